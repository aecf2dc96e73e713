using MLNetTuning.Models;

namespace MLNetTuning.Onnx;

/// <summary>
/// Hugging Face's <c>DistilBertModel</c> as ONNX nodes, in the order <c>Models/DistilBert.cs</c> computes it: word plus
/// position embeddings (no token types, so the graph has no <c>token_type_ids</c> input), LayerNorm, then per block the
/// same attention and feed-forward as BERT under DistilBERT's names (<c>q_lin</c>, <c>sa_layer_norm</c>, <c>ffn.lin1</c>,
/// <c>output_layer_norm</c>), and no pooler.
/// </summary>
internal sealed class DistilBertEncoderGraph(BertConfig config) : IOnnxEncoderGraph
{
    private static readonly OnnxLayerNames Names = new("attention.q_lin", "attention.k_lin", "attention.v_lin",
        "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm");

    public bool UsesTokenTypes => false;

    public OnnxEncoderOutputs Build(OnnxGraphBuilder g, OnnxWeights w, string p, OnnxEncoderInputs inputs)
    {
        float eps = (float)config.LayerNormEps;
        var words = g.Node("Gather", [w.Add(g, p + "embeddings.word_embeddings.weight"), inputs.InputIds], "embeddings.words");
        var shape = g.Node("Shape", [inputs.InputIds], "input_shape");
        var length = g.Node("Gather", [shape, g.Scalar(1L)], "sequence_length", ("axis", 0L));
        var positionIds = g.Node("Range", [g.Scalar(0L), length, g.Scalar(1L)], "position_ids");
        var positions = g.Node("Gather", [w.Add(g, p + "embeddings.position_embeddings.weight"), positionIds], "embeddings.positions");   // [T, H], broadcast over B
        var hidden = BertEncoderGraph.LayerNorm(g, w, p + "embeddings.LayerNorm", g.Node("Add", [words, positions], "embeddings.sum"), eps);
        var mask = BertEncoderGraph.ExtendedMask(g, inputs.AttentionMask);
        for (int i = 0; i < config.NumHiddenLayers; i++)
            hidden = BertEncoderGraph.Layer(g, w, config, Names, $"{p}transformer.layer.{i}.", hidden, mask, eps);
        return new OnnxEncoderOutputs(hidden, null, config.HiddenSize);
    }

    /// <summary>DistilBertForSequenceClassification: the first token through <c>pre_classifier</c> and ReLU (dropout is identity).</summary>
    public string SequenceFeatures(OnnxGraphBuilder g, OnnxWeights w, OnnxEncoderOutputs encoded, string headName)
    {
        const string pre = "pre_classifier";
        var first = OnnxEncoderGraphs.FirstToken(g, encoded.LastHiddenState);
        return g.Node("Relu", [BertEncoderGraph.Linear(g, w, pre, first, OnnxInt8.KeepFloatPrefix + pre)], OnnxInt8.KeepFloatPrefix + pre + ".relu");
    }
}
