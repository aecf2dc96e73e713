namespace MLNetTuning.Onnx;

/// <summary>
/// The state-dict names of the modules of one post-LayerNorm transformer layer, relative to the layer's prefix: BERT's and
/// RoBERTa's <c>attention.self.query</c>… or DistilBERT's <c>attention.q_lin</c>…, so that one graph writer serves both.
/// </summary>
internal sealed record OnnxLayerNames(string Query, string Key, string Value, string AttentionOutput, string AttentionNorm,
    string Intermediate, string Output, string OutputNorm);
