using MLNetTuning.Training;
using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>
/// A fine-tuned model written as a Hugging Face folder whose head means what Python's <c>BertForSequenceClassification</c>
/// and <c>pipeline("text-classification")</c> expect. Only the written copy of the head changes, never the model in memory:
/// Each task's <see cref="FineTuneTask.ExportHead"/> says how (regression folds in its label scaling, binary adds the negative logit).
/// </summary>
internal static class HuggingFaceExport
{

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
        (Tensor Weight, Tensor Bias)? head = null;
        try
        {
            var (weightKey, biasKey) = ($"{model.Model.HeadName}.weight", $"{model.Model.HeadName}.bias");
            using (no_grad()) head = model.Task.ExportHead(config, state[weightKey], state[biasKey], binaryClassNames);
            if (head is { } replaced) (exported[weightKey], exported[biasKey]) = replaced;
            HuggingFaceFolder.Save(folder, config, exported, model.Tokenizer);
        }
        finally
        {
            head?.Weight.Dispose();
            head?.Bias.Dispose();
        }
    }
}
