using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Text;

namespace MLNetTuning.Training;

/// <summary>
/// Token classification's reading of a head's outputs into one tag per word, and its ML.NET columns, apart from any
/// engine: the TorchSharp stage (<c>TokenClassificationTask</c>) and the ONNX scorer (MLNetTuning.Onnx, which links
/// this file) call the same code, so that both give the same tags from the same logits.
/// </summary>
internal static class WordTagger
{
    /// <summary><c>Score</c>: the predicted tag's probability per word; <c>PredictedLabel</c>: the tag per word, a key over <paramref name="tags"/>.</summary>
    public static IReadOnlyList<OutputColumn> OutputColumns(IReadOnlyList<string> tags) =>
        [OutputColumn.VariableFloatVector("Score"), OutputColumn.KeyVector("PredictedLabel", tags)];

    /// <summary>The words of each row of input 0: a vector of words, or one text split on whitespace.</summary>
    public static List<string[]> ReadSentences(InputBatch inputs, bool wordsAreVector)
    {
        var sentences = new List<string[]>(inputs.Count);
        if (wordsAreVector)
            foreach (var words in inputs.Get<VBuffer<ReadOnlyMemory<char>>>(0)) sentences.Add(words.DenseValues().Select(w => w.ToString()).ToArray());
        else
            foreach (var text in inputs.Get<ReadOnlyMemory<char>>(0)) sentences.Add(WordInput.SplitText(text.Span));
        return sentences;
    }

    /// <summary>
    /// Each word's tag (0-based) and its probability; a word in two windows is read from the one where it has more context.
    /// <paramref name="logitsOf"/> gives the head's outputs for the windows: each example's tokens × <paramref name="k"/>, concatenated in order.
    /// </summary>
    public static (int[] Tags, float[] Probabilities)[] Predict(ITextTokenizer tokenizer, int maxLength, int stride, int k,
        Func<IReadOnlyList<TokenizedExample>, float[]> logitsOf, IReadOnlyList<string[]> sentences)
    {
        var windows = new List<WordWindow>[sentences.Count];
        Parallel.For(0, sentences.Count, i => windows[i] = WordWindows.Cut(tokenizer, sentences[i], null, maxLength, stride));
        var examples = windows.SelectMany(w => w).Select(w => w.Example).ToList();
        float[] logits = logitsOf(examples);
        int offset = 0;
        var results = new (int[] Tags, float[] Probabilities)[sentences.Count];
        var probabilities = new float[k];
        for (int s = 0; s < sentences.Count; s++)
        {
            var (tags, scores, context) = (new int[sentences[s].Length], new float[sentences[s].Length], new int[sentences[s].Length]);
            Array.Fill(context, -1);
            foreach (var window in windows[s])
            {
                for (int j = 0; j < window.Positions.Length; j++)
                {
                    int word = window.FirstWord + j;
                    if (window.Context(j) <= context[word]) continue;
                    context[word] = window.Context(j);
                    Softmax(logits.AsSpan(offset + window.Positions[j] * k, k), probabilities);
                    tags[word] = ArgMax(probabilities);
                    scores[word] = probabilities[tags[word]];
                }
                offset += window.Example.Ids.Length * k;
            }
            results[s] = (tags, scores);
        }
        return results;
    }

    /// <summary>Fills <see cref="OutputColumns"/> (in that order) from <paramref name="predictions"/>, one row each.</summary>
    public static void Write((int[] Tags, float[] Probabilities)[] predictions, OutputBatch outputs)
    {
        var scores = outputs.Get<VBuffer<float>>(0);
        var keys = outputs.Get<VBuffer<uint>>(1);
        for (int row = 0; row < predictions.Length; row++)
        {
            var (tags, probabilities) = predictions[row];
            var scoreEditor = VBufferEditor.Create(ref scores[row], tags.Length);
            var keyEditor = VBufferEditor.Create(ref keys[row], tags.Length);
            for (int w = 0; w < tags.Length; w++)
            {
                scoreEditor.Values[w] = probabilities[w];
                keyEditor.Values[w] = (uint)tags[w] + 1;   // keys are 1-based; 0 means missing
            }
            scores[row] = scoreEditor.Commit();
            keys[row] = keyEditor.Commit();
        }
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static void Softmax(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        float max = float.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += probabilities[i] = MathF.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) probabilities[i] = (float)(probabilities[i] / sum);
    }
}
