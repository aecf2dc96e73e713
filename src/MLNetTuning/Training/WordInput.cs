namespace MLNetTuning.Training;

/// <summary>How a token classifier reads its words and cuts long sentences; saved with the model.</summary>
/// <param name="WordsAreVector">The text column is a vector of words (else one text, split on whitespace).</param>
/// <param name="WindowStride">Sub-tokens that consecutive windows of a long sentence share.</param>
internal sealed record WordInput(bool WordsAreVector, int WindowStride)
{
    public static WordInput Default { get; } = new(true, 32);

    /// <summary>The words of one row: the vector's items, or the text split on whitespace.</summary>
    public static string[] SplitText(ReadOnlySpan<char> text) => text.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}
