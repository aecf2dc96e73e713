using MLNetTuning.Models;
using MLNetTuning.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>Sentence embeddings from a pretrained encoder: pooled last hidden states, optionally L2-normalised.</summary>
internal sealed class BertEmbedder(EncoderModel encoder, ITextTokenizer tokenizer, BertPooling pooling, bool normalize, int maxSequenceLength, int batchSize) : IDisposable
{
    private readonly object _gate = new();

    private bool _disposed;

    public EncoderModel Encoder => _disposed ? throw DisposedModel.Error(nameof(BertEmbeddingsTransformer)) : encoder;
    public ITextTokenizer Tokenizer { get; } = tokenizer;
    public BertPooling Pooling { get; } = pooling;
    public bool Normalize { get; } = normalize;
    public int MaxSequenceLength { get; } = maxSequenceLength;
    public int BatchSize { get; } = batchSize;
    public int Dimension => Encoder.Config.HiddenSize;

    /// <summary>[N, H] row-major embeddings in input order.</summary>
    public float[] Embed(IReadOnlyList<string?> texts)
    {
        var examples = FineTunedBert.Tokenize(Tokenizer, texts, null, new float[texts.Count], MaxSequenceLength);
        int h = Dimension;
        var result = new float[texts.Count * h];
        lock (_gate)
        {
            Encoder.eval();
            // A featurizer's encoder is never trained, so its linear layers may keep weights prepared for scoring.
            Encoder.ScoringOnly = true;
            using var noGrad = no_grad();
            foreach (var batch in Batching.ByLength(examples.Select(e => e.Ids.Length).ToArray(), BatchSize))
            {
                using var scope = NewDisposeScope();
                var (ids, mask, types) = Batching.Collate(examples, batch, Tokenizer.PadId, CPU);
                var (last, _) = Encoder.Forward(ids, mask, types);
                var values = Pool(last, mask, Pooling, Normalize).data<float>().ToArray();
                for (int row = 0; row < batch.Length; row++) Array.Copy(values, row * h, result, batch[row] * h, h);
            }
        }
        return result;
    }

    /// <summary>[B, T, H] hidden states and [B, T] mask → [B, H].</summary>
    internal static Tensor Pool(Tensor last, Tensor mask, BertPooling pooling, bool normalize)
    {
        using var scope = NewDisposeScope();
        // Scalars as using locals (this runs on ML.NET's threads): see "Scalar lifetime" in Models/Kernels.cs.
        using var zero = 0.ToScalar();
        using var minusInfinity = float.NegativeInfinity.ToScalar();
        using var tiny = 1e-9.ToScalar();
        var real = mask.unsqueeze(-1).to_type(last.dtype);   // [B, T, 1]
        var pooled = pooling switch
        {
            BertPooling.Cls => last.select(1, 0),
            // Padding is excluded: a padded row must embed exactly as it does alone.
            BertPooling.Max => last.masked_fill(real.eq(zero), minusInfinity).amax([1]),
            _ => (last * real).sum(1) / real.sum(1).clamp_min(tiny),
        };
        if (normalize) pooled = nn.functional.normalize(pooled, p: 2, dim: 1);
        return pooled.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        // Waits for a forward pass in progress on another thread (a PredictionEngine's Dispose frees the shared model).
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            encoder.Dispose();
        }
    }
}
