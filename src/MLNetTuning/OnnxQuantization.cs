namespace MLNetTuning;

/// <summary>How <see cref="BertFineTuneTransformer.ExportOnnx(string, OnnxQuantization)"/> stores the encoder's matrix products.</summary>
public enum OnnxQuantization
{
    /// <summary>float32 weights and products: the graph reproduces the TorchSharp model to rounding.</summary>
    None,

    /// <summary>
    /// Dynamic int8: each encoder <c>Linear</c> weight quantized per output channel (symmetric int8), activations quantized
    /// per call (<c>DynamicQuantizeLinear</c>, <c>MatMulInteger</c>). Smaller and faster on CPUs; scores move slightly.
    /// The task head, embeddings, LayerNorms and attention products stay float32.
    /// </summary>
    Int8,
}
