namespace MLNetTuning.Serve;

/// <summary>
/// What <c>GET /info</c> says about the served model: its task (as <c>BertTask</c> names it), labels (class names,
/// multi-label labels or tags; empty for regression and question answering), where it came from, the number format it
/// scores in, and the request shape it takes.
/// </summary>
internal sealed record ModelCard(string Task, IReadOnlyList<string> Labels, string Model, string Precision, InputKind Input)
{
    /// <summary>The JSON property a request puts its inputs in.</summary>
    public string InputProperty => Input switch
    {
        InputKind.Pairs => "pairs",
        InputKind.Questions => "questions",
        _ => "texts",
    };

    /// <summary>A request of the right shape, for error messages and the page.</summary>
    public string ExampleRequest => Input switch
    {
        InputKind.Pairs => """{"pairs": [["first text", "second text"]]}""",
        InputKind.Questions => """{"questions": [{"question": "Who wrote it?", "context": "It was written by Ada."}]}""",
        _ => """{"texts": ["a text to score"]}""",
    };
}
