using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetTuning.Models;

/// <summary>
/// What the heads, the loop, the freezing options and the featurizer need of a bare encoder of any family
/// (<see cref="BertModel"/>, <see cref="DistilBertModel"/>): a forward pass, the embeddings and layers by role, and the
/// precision of its matrix products.
/// </summary>
internal abstract class EncoderModel : nn.Module
{
    protected EncoderModel(string name, BertConfig config) : base(name)
    {
        config.Validate();
        Config = config;
    }

    public BertConfig Config { get; }

    /// <summary>The embeddings block, which <c>FreezeEmbeddings</c> freezes.</summary>
    public abstract nn.Module EmbeddingModule { get; }

    /// <summary>The word-embedding table (its padding row starts at zero).</summary>
    public abstract Embedding WordEmbeddings { get; }

    /// <summary>The transformer layers, bottom first, which <c>FreezeBottomLayers</c> counts.</summary>
    public abstract IReadOnlyList<nn.Module> Layers { get; }

    /// <summary>The pooler, or null for an encoder built without one (token heads, featurizer, DistilBERT).</summary>
    public abstract nn.Module? PoolerModule { get; }

    /// <summary>
    /// [B, T] ids, mask (1 = real token) and token types (ignored by a family without them) → last hidden state [B, T, H]
    /// and pooled output [B, H] (null without a pooler).
    /// </summary>
    public abstract (Tensor LastHidden, Tensor? Pooled) Forward(Tensor inputIds, Tensor attentionMask, Tensor? tokenTypeIds = null);

    /// <summary>The type of the encoder's matrix products (bfloat16 for mixed precision); the weights stay float32.</summary>
    public NumericPrecision Precision
    {
        get => _precision;
        set
        {
            _precision = value;
            UpdateKernels();
        }
    }
    private NumericPrecision _precision;

    /// <summary>
    /// Whether the model is only scored from now on: its weights will not change, so its linear layers keep copies prepared
    /// for oneDNN (<see cref="PreparedWeights"/>) and use them wherever autograd is off. Set by the scoring objects
    /// (<c>FineTunedBert</c>, the featurizer); never set on a model that trains.
    /// </summary>
    public bool ScoringOnly
    {
        get => _scoringOnly;
        set
        {
            if (value == _scoringOnly) return;
            _scoringOnly = value;
            UpdateKernels();
        }
    }
    private bool _scoringOnly;
    private PreparedWeights? _prepared;

    /// <summary>The prepared weights while <see cref="ScoringOnly"/> (for tests).</summary>
    internal PreparedWeights? Prepared => _prepared;

    /// <summary>Gives every linear layer the current mode; prepared copies are made again, lazily, in the new type.</summary>
    private void UpdateKernels()
    {
        _prepared?.Dispose();
        _prepared = _scoringOnly ? new PreparedWeights() : null;
        var mode = new LinearKernelMode(_precision == NumericPrecision.Bf16 ? ScalarType.BFloat16 : null, _prepared);
        foreach (var (_, module) in named_modules())
            if (module is ILinearKernelUser user) user.Kernel = mode;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _prepared?.Dispose();
            _prepared = null;
        }
        base.Dispose(disposing);
    }

    /// <summary>The additive mask's type: the products' type in mixed precision, so that adding it does not promote the scores.</summary>
    protected ScalarType MaskType(Tensor hidden) => _precision == NumericPrecision.Bf16 ? ScalarType.BFloat16 : hidden.dtype;

    /// <summary>[B, T] 1/0 mask → [B, 1, 1, T] additive mask: 0 where attended, the dtype's minimum where padded.</summary>
    internal static Tensor AdditiveMask(Tensor attentionMask, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        // Scalars as using locals: see "Scalar lifetime" in Kernels.cs.
        using var zero = 0.ToScalar();
        using var min = (dtype == ScalarType.Float64 ? double.MinValue : dtype == ScalarType.BFloat16 ? -3.38e38 : float.MinValue).ToScalar();
        var padded = attentionMask.eq(zero).unsqueeze(1).unsqueeze(1);
        return zeros(padded.shape, dtype, attentionMask.device).masked_fill(padded, min).MoveToOuterDisposeScope();
    }

    /// <summary>Initialises every weight as Hugging Face's <c>_init_weights</c> does, for a model trained from scratch.</summary>
    public void InitializeWeights()
    {
        BertInit.Apply(this, Config.InitializerRange);
        // The padding row of the word embeddings starts at zero, as nn.Embedding(padding_idx) makes it.
        using var noGrad = no_grad();
        WordEmbeddings.weight![Config.PadTokenId].zero_();
    }
}

/// <summary>The feed-forward activations that config.json's <c>hidden_act</c> (DistilBERT: <c>activation</c>) names.</summary>
internal static class Activations
{
    public static Tensor Apply(string activation, Tensor x) => activation switch
    {
        "gelu" => F.gelu(x),
        // gelu_new and gelu_pytorch_tanh are both the tanh approximation.
        "gelu_new" or "gelu_pytorch_tanh" => F.gelu(x, GELU.Approximate.tanh),
        "relu" => F.relu(x),
        _ => throw new InvalidOperationException($"hidden_act '{activation}' is not supported."),
    };
}
