using MLNetTuning.Text;

namespace MLNetTuning.Training;

/// <summary>
/// One model input cut from a sentence's words: <c>[CLS]</c>, a run of sub-word tokens, <c>[SEP]</c>. Words
/// <see cref="FirstWord"/> onwards start in it: <see cref="Positions"/>[j] is the input position of word FirstWord + j's
/// first sub-token.
/// </summary>
internal sealed record WordWindow(TokenizedExample Example, int FirstWord, int[] Positions)
{
    /// <summary>Sub-tokens of context that word j has inside this window on its shorter side; the scorer keeps the window with most.</summary>
    public int Context(int j) => Math.Min(Positions[j] - 1, Example.Ids.Length - 2 - Positions[j]);
}

/// <summary>
/// Cuts sentences of words into windows that fit the model, as Hugging Face's token-classification recipe aligns labels:
/// a word's tag goes to its first sub-token, every other sub-token and the special tokens get the ignore index. A
/// sentence longer than the model takes becomes overlapping windows (<c>stride</c> shared sub-tokens), never a truncation.
/// </summary>
internal static class WordWindows
{
    /// <summary>The label of a position the loss skips: torch's cross-entropy <c>ignore_index</c>, as <c>BertForTokenClassification.IgnoreIndex</c>.</summary>
    public const int IgnoreLabel = -100;

    public static List<WordWindow> Cut(ITextTokenizer tokenizer, IReadOnlyList<string> words, IReadOnlyList<int>? tags, int maxLength, int stride)
    {
        var ids = new List<int>();
        var wordOf = new List<int>();
        var first = new List<bool>();
        for (int w = 0; w < words.Count; w++)
        {
            var encoded = tokenizer.EncodeWord(words[w] ?? "");
            // A word the tokenizer drops whole (control characters, an empty string) still needs a place to be predicted at.
            Span<int> pieces = encoded.Length > 0 ? encoded : new[] { tokenizer.UnkId };
            for (int p = 0; p < pieces.Length; p++)
            {
                ids.Add(pieces[p]);
                wordOf.Add(w);
                first.Add(p == 0);
            }
        }

        int budget = maxLength - 2;
        // At most half a window overlaps, so that each window still moves the text on.
        int step = budget - Math.Clamp(stride, 0, budget / 2);
        var windows = new List<WordWindow>();
        for (int start = 0; ; start += step)
        {
            int end = Math.Min(ids.Count, start + budget);
            windows.Add(Window(tokenizer, ids, wordOf, first, tags, start, end));
            if (end >= ids.Count) break;
        }
        return windows;
    }

    private static WordWindow Window(ITextTokenizer tokenizer, List<int> ids, List<int> wordOf, List<bool> first, IReadOnlyList<int>? tags, int start, int end)
    {
        int length = end - start + 2;
        var inputIds = new int[length];
        var labels = new int[length];
        Array.Fill(labels, IgnoreLabel);
        // Every family's single-text template is one token on each side: [CLS] … [SEP] or <s> … </s>.
        inputIds[0] = tokenizer.Template.Start[0];
        inputIds[length - 1] = tokenizer.Template.End[0];
        var positions = new List<int>();
        int firstWord = -1;
        for (int i = start; i < end; i++)
        {
            int position = i - start + 1;
            inputIds[position] = ids[i];
            if (!first[i]) continue;
            if (firstWord < 0) firstWord = wordOf[i];
            positions.Add(position);
            if (tags is not null && tags[wordOf[i]] >= 0) labels[position] = tags[wordOf[i]];
        }
        var example = new TokenizedExample(inputIds, new int[length], 0, labels);
        return new WordWindow(example, Math.Max(firstWord, 0), [.. positions]);
    }
}
