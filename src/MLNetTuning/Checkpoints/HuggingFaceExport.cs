using MLNetTuning.Models;
using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>
/// A fine-tuned model written as a Hugging Face folder whose head means what Python's <c>BertForSequenceClassification</c>
/// and <c>pipeline("text-classification")</c> expect. Only the written copy of the head changes, never the model in memory:
/// <list type="bullet">
/// <item>Regression trains on standardised labels; the exported head has the scale and mean folded in
/// (weight × scale, bias × scale + mean), so its one output is in label units.</item>
/// <item>Binary trains one logit z with a sigmoid; the exported head has two logits [0, z], whose softmax is
/// [1 − sigmoid(z), sigmoid(z)], so the probabilities are unchanged and id2label names both classes.</item>
/// </list>
/// </summary>
internal static class HuggingFaceExport
{
    public const string ClassifierWeight = "classifier.weight";
    public const string ClassifierBias = "classifier.bias";

    /// <summary>The binary class names when the caller knows none: ML.NET's binary label is a bool.</summary>
    public static readonly IReadOnlyList<string> DefaultBinaryClassNames = ["False", "True"];

    /// <summary>Writes <paramref name="model"/> to <paramref name="folder"/>, replacing any folder there whole.</summary>
    /// <param name="folder">The target folder.</param>
    /// <param name="model">The fine-tuned model; it is read, never changed.</param>
    /// <param name="binaryClassNames">Binary models: the negative and the positive class name; null for "False" and "True". Ignored for other tasks.</param>
    /// <exception cref="ArgumentException"><paramref name="binaryClassNames"/> is not two distinct, non-empty names.</exception>
    public static void Save(string folder, FineTunedBert model, IReadOnlyList<string>? binaryClassNames = null)
    {
        var config = model.Config.Clone();
        var state = model.Model.state_dict();
        var exported = new Dictionary<string, Tensor>(state);
        var head = new List<Tensor>();
        try
        {
            using (no_grad())
            {
                var weight = state[ClassifierWeight];
                var bias = state[ClassifierBias];
                switch (model.Task)
                {
                    case BertTask.Regression:
                        // In float64, so that the bias takes one rounding, not two.
                        float scale = model.Adapter.LabelScale, mean = model.Adapter.LabelMean;
                        head.Add(exported[ClassifierWeight] = Fold(weight, w => w.mul(scale)));
                        head.Add(exported[ClassifierBias] = Fold(bias, b => b.mul(scale).add(mean)));
                        break;
                    case BertTask.BinaryClassification:
                        var names = CheckBinaryNames(binaryClassNames ?? DefaultBinaryClassNames);
                        head.Add(exported[ClassifierWeight] = PrependZeroRow(weight));
                        head.Add(exported[ClassifierBias] = PrependZeroRow(bias));
                        config.Labels = [.. names];
                        config.ProblemType = "single_label_classification";
                        break;
                }
            }
            HuggingFaceFolder.Save(folder, config, exported, model.Tokenizer);
        }
        finally
        {
            foreach (var tensor in head) tensor.Dispose();
        }
    }

    private static Tensor Fold(Tensor value, Func<Tensor, Tensor> affine)
    {
        using var scope = NewDisposeScope();
        return affine(value.to_type(ScalarType.Float64)).to_type(value.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>[1, H] → [2, H] (or [1] → [2]) with zeros for class 0: logit 0 for the negative class.</summary>
    private static Tensor PrependZeroRow(Tensor value)
    {
        using var zero = zeros_like(value);
        return cat([zero, value], dim: 0);
    }

    private static IReadOnlyList<string> CheckBinaryNames(IReadOnlyList<string> names)
    {
        if (names.Count != 2 || names.Any(string.IsNullOrEmpty) || names[0] == names[1])
            throw new ArgumentException($"A binary model is exported with two class names, negative then positive, distinct and not empty; got [{string.Join(", ", names.Select(n => $"'{n}'"))}].",
                "binaryClassNames");
        return names;
    }
}
