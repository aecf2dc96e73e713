using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using MLNetTuning.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// Our TorchSharp BERT with the embedded all-MiniLM-L6-v2 weights against ONNX Runtime running the same model.onnx:
/// real sentences of varied length, batched with padding, single texts and pairs with token type 1.
/// </summary>
[Collection(RealModelCollection.Name)]
public sealed class OrtParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    private static (BertModel Model, BertTextTokenizer Tokenizer, EmbeddedModel Embedded) LoadMiniLm()
    {
        TorchNativeLoader.EnsureLoaded();
        using var pretrained = ModelResolver.Load("all-MiniLM-L6-v2");
        var model = new BertModel(pretrained.Config);
        pretrained.LoadEncoderInto(model);
        model.eval();
        return (model, (BertTextTokenizer)pretrained.Tokenizer, EmbeddedModels.Get("all-MiniLM-L6-v2"));
    }

    /// <summary>16 single e-mails (cut at different lengths) and 8 pairs from the bundled SpamAssassin test split.</summary>
    private static List<EncodedText> RealInputs(BertTextTokenizer tokenizer)
    {
        var texts = RepoFiles.ReadTsv("samples", "data", "spam", "test.tsv").Select(r => r[2]).Take(32).ToList();
        var inputs = new List<EncodedText>();
        for (int i = 0; i < 16; i++) inputs.Add(tokenizer.Encode(texts[i], maxLength: 8 + 7 * i));
        for (int i = 16; i < 32; i += 2) inputs.Add(tokenizer.Encode(texts[i], texts[i + 1], maxLength: 20 + 5 * i));
        return inputs;
    }

    [Fact]
    public void LastHiddenStateAndPooledOutputMatchOnnxRuntime()
    {
        var (model, tokenizer, embedded) = LoadMiniLm();
        using (model)
        {
            var inputs = RealInputs(tokenizer);
            Assert.Contains(inputs, i => i.TypeIds.Contains(1));
            var batch = tokenizer.Pad(inputs);
            var reference = OrtReference.Run(embedded, batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.BatchSize, batch.SequenceLength);

            long[] shape = [batch.BatchSize, batch.SequenceLength];
            using var ids = tensor(batch.InputIds, shape);
            using var mask = tensor(batch.AttentionMask, shape);
            using var types = tensor(batch.TokenTypeIds, shape);
            float[] last, pooled;
            using (no_grad())
            {
                var (lastHidden, pooledOutput) = model.Forward(ids, mask, types);
                last = lastHidden.data<float>().ToArray();
                pooled = pooledOutput!.data<float>().ToArray();
            }

            int hidden = reference.Hidden;
            double maxLast = 0;
            for (int b = 0; b < batch.BatchSize; b++)
                for (int t = 0; t < batch.SequenceLength; t++)
                {
                    if (batch.AttentionMask[b * batch.SequenceLength + t] == 0) continue;   // padded positions are not compared
                    int offset = (b * batch.SequenceLength + t) * hidden;
                    for (int h = 0; h < hidden; h++) maxLast = Math.Max(maxLast, Math.Abs(last[offset + h] - reference.LastHiddenState[offset + h]));
                }
            double maxPooled = pooled.Zip(reference.Pooled!).Max(p => Math.Abs(p.First - p.Second));
            output.WriteLine($"batch {batch.BatchSize}x{batch.SequenceLength}: max |Δ| last_hidden_state {maxLast:E2}, pooled {maxPooled:E2}");
            Assert.True(maxLast <= Tolerance, $"last_hidden_state max |Δ| {maxLast:E2} > {Tolerance:E0}");
            Assert.True(maxPooled <= Tolerance, $"pooled output max |Δ| {maxPooled:E2} > {Tolerance:E0}");
        }
    }

    [Fact]
    public void MeanPooledEmbeddingsMatchOnnxRuntimePooledTheSameWay()
    {
        var (model, tokenizer, embedded) = LoadMiniLm();
        using var embedder = new BertEmbedder(model, tokenizer, BertPooling.Mean, normalize: true, maxSequenceLength: 128, batchSize: 5);
        var texts = RepoFiles.ReadTsv("samples", "data", "spam", "test.tsv").Select(r => r[2]).Skip(40).Take(16).ToList();
        float[] ours = embedder.Embed(texts);

        var batch = tokenizer.Pad(texts.Select(t => tokenizer.Encode(t, maxLength: 128)).ToList());
        var reference = OrtReference.Run(embedded, batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.BatchSize, batch.SequenceLength);
        int h = reference.Hidden;
        double maxDelta = 0;
        for (int b = 0; b < texts.Count; b++)
        {
            var sum = new double[h];
            int count = 0;
            for (int t = 0; t < batch.SequenceLength; t++)
            {
                if (batch.AttentionMask[b * batch.SequenceLength + t] == 0) continue;
                count++;
                for (int k = 0; k < h; k++) sum[k] += reference.LastHiddenState[(b * batch.SequenceLength + t) * h + k];
            }
            double norm = Math.Sqrt(sum.Sum(v => (v / count) * (v / count)));
            for (int k = 0; k < h; k++) maxDelta = Math.Max(maxDelta, Math.Abs(ours[b * h + k] - sum[k] / count / norm));
        }
        output.WriteLine($"mean-pooled, normalised embeddings of {texts.Count} texts: max |Δ| {maxDelta:E2}");
        Assert.True(maxDelta <= Tolerance, $"embedding max |Δ| {maxDelta:E2} > {Tolerance:E0}");
    }
}
