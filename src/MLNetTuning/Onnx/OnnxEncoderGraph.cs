using MLNetTuning.Models;
using Onnx;

namespace MLNetTuning.Onnx;

/// <summary>The graph's inputs, as Hugging Face's exporter names them; <see cref="TokenTypeIds"/> is null for a family without token types.</summary>
internal sealed record OnnxEncoderInputs(string InputIds, string AttentionMask, string? TokenTypeIds);

/// <summary>What an encoder graph gives the heads: the last hidden state [B, T, H] and, where the family has one, the pooled output [B, H].</summary>
internal sealed record OnnxEncoderOutputs(string LastHiddenState, string? PooledOutput, int HiddenSize);

/// <summary>
/// The seam between a model family and the exporter: a family writes its encoder's nodes, reading its weights by their
/// state-dict keys under a prefix (<c>bert.</c> in a task model, none in a bare encoder). Heads and int8 are shared.
/// A new family (RoBERTa, XLM-R, DistilBERT) adds one implementation and one line in <see cref="OnnxEncoderGraphs.For"/>.
/// </summary>
internal interface IOnnxEncoderGraph
{
    /// <summary>Whether the graph takes <c>token_type_ids</c> (BERT does; RoBERTa-style and DistilBERT exports do not).</summary>
    bool UsesTokenTypes { get; }

    /// <summary>Adds the encoder's nodes and initializers to <paramref name="graph"/>.</summary>
    OnnxEncoderOutputs Build(OnnxGraphBuilder graph, OnnxWeights weights, string prefix, OnnxEncoderInputs inputs);

    /// <summary>
    /// The family's sequence head up to its last Linear (named <paramref name="headName"/>, which <see cref="OnnxHeads"/>
    /// adds): BERT's pooled output, RoBERTa's <c>classifier.dense</c> and tanh on the first token, DistilBERT's
    /// <c>pre_classifier</c> and ReLU on the first token. Returns the [B, H] features the last Linear reads.
    /// </summary>
    string SequenceFeatures(OnnxGraphBuilder graph, OnnxWeights weights, OnnxEncoderOutputs encoded, string headName);
}

/// <summary>The table from a config's family to its encoder graph.</summary>
internal static class OnnxEncoderGraphs
{
    /// <exception cref="NotSupportedException">The family has no ONNX graph; the message names it and the families that have one.</exception>
    public static IOnnxEncoderGraph For(BertConfig config) => config.ModelType switch
    {
        "bert" => new BertEncoderGraph(config, robertaPositions: false),
        // RoBERTa's encoder is BERT's with its own positions and a single token type (Models/Roberta.cs).
        "roberta" or "xlm-roberta" => new BertEncoderGraph(config, robertaPositions: true),
        "distilbert" => new DistilBertEncoderGraph(config),
        _ => throw new NotSupportedException($"The model family '{config.ModelType}' has no ONNX export; ExportOnnx supports bert, roberta, xlm-roberta and distilbert."),
    };

    /// <summary>[B, H] features of the first token ([CLS] or &lt;s&gt;) of the last hidden state [B, T, H].</summary>
    internal static string FirstToken(OnnxGraphBuilder g, string lastHidden) => g.Node("Gather", [lastHidden, g.Scalar(0L)], "first_token", ("axis", 1L));
}

/// <summary>
/// Hugging Face's <c>BertModel</c> as ONNX nodes, in the order <c>Models/Bert.cs</c> computes it so that float32 results
/// agree to rounding: embeddings summed then LayerNorm, per layer Q/K/V products, scaled scores plus the additive mask,
/// softmax, context, output projection plus residual then LayerNorm, feed-forward, and the tanh pooler on [CLS].
/// With <c>robertaPositions</c> it is RoBERTa's (and XLM-RoBERTa's) <c>RobertaModel</c>: the same weights and layers, but
/// positions counted from <c>padding_idx + 1</c> over the real tokens and no <c>token_type_ids</c> input (its single token
/// type's embedding is added to every token, as the TorchSharp model adds type 0).
/// </summary>
internal sealed class BertEncoderGraph(BertConfig config, bool robertaPositions) : IOnnxEncoderGraph
{
    /// <summary>BERT's module names inside one layer (Hugging Face's <c>BertLayer</c>).</summary>
    internal static readonly OnnxLayerNames BertLayer = new("attention.self.query", "attention.self.key", "attention.self.value",
        "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm");

    public bool UsesTokenTypes => !robertaPositions;

    public string SequenceFeatures(OnnxGraphBuilder g, OnnxWeights w, OnnxEncoderOutputs encoded, string headName)
    {
        if (!robertaPositions)
            return encoded.PooledOutput ?? throw new InvalidOperationException("A BERT sequence head needs the encoder's pooled output, which this model has no pooler for.");
        // RobertaClassificationHead: dropout (identity), dense, tanh, dropout, then out_proj (added by OnnxHeads).
        string dense = headName.EndsWith(".out_proj", StringComparison.Ordinal) ? headName[..^".out_proj".Length] + ".dense" : throw new InvalidOperationException(
            $"A RoBERTa sequence head's last layer is classifier.out_proj, but this model's is '{headName}'.");
        var first = OnnxEncoderGraphs.FirstToken(g, encoded.LastHiddenState);
        return g.Node("Tanh", [Linear(g, w, dense, first, OnnxInt8.KeepFloatPrefix + dense)], OnnxInt8.KeepFloatPrefix + dense + ".tanh");
    }

    public OnnxEncoderOutputs Build(OnnxGraphBuilder g, OnnxWeights w, string prefix, OnnxEncoderInputs inputs)
    {
        string p = prefix;
        float eps = (float)config.LayerNormEps;

        // Embeddings: words + positions 0..T-1 + token types. Positions are computed, as in the TorchSharp model.
        var words = g.Node("Gather", [w.Add(g, p + "embeddings.word_embeddings.weight"), inputs.InputIds], "embeddings.words");
        var shape = g.Node("Shape", [inputs.InputIds], "input_shape");
        var length = g.Node("Gather", [shape, g.Scalar(1L)], "sequence_length", ("axis", 0L));
        var positionIds = robertaPositions ? RobertaPositionIds(g, inputs.InputIds) : g.Node("Range", [g.Scalar(0L), length, g.Scalar(1L)], "position_ids");
        // BERT: [T, H], broadcast over B; RoBERTa: [B, T, H].
        var positions = g.Node("Gather", [w.Add(g, p + "embeddings.position_embeddings.weight"), positionIds], "embeddings.positions");
        // RoBERTa: every token has type 0, so its row [H] is added to every token, as zeros_like(input_ids) does in TorchSharp.
        var types = robertaPositions
            ? g.Node("Gather", [w.Add(g, p + "embeddings.token_type_embeddings.weight"), g.Scalar(0L)], "embeddings.token_types", ("axis", 0L))
            : g.Node("Gather", [w.Add(g, p + "embeddings.token_type_embeddings.weight"),
                inputs.TokenTypeIds ?? throw new InvalidOperationException("A BERT graph needs token_type_ids.")], "embeddings.token_types");
        var sum = g.Node("Add", [g.Node("Add", [words, positions], "embeddings.sum"), types], "embeddings.sum");
        var hidden = LayerNorm(g, w, p + "embeddings.LayerNorm", sum, eps);

        var mask = ExtendedMask(g, inputs.AttentionMask);

        for (int i = 0; i < config.NumHiddenLayers; i++)
            hidden = Layer(g, w, config, BertLayer, $"{p}encoder.layer.{i}.", hidden, mask, eps);

        string? pooled = null;
        if (HasPooler(w, p))
        {
            var cls = g.Node("Gather", [hidden, g.Scalar(0L)], "pooler.cls", ("axis", 1L));   // [B, T, H] -> [B, H]
            pooled = g.Node("Tanh", [Linear(g, w, p + "pooler.dense", cls)], "pooler_output");
        }
        return new OnnxEncoderOutputs(hidden, pooled, config.HiddenSize);
    }

    private static bool HasPooler(OnnxWeights w, string prefix) => w.Has(prefix + "pooler.dense.weight");

    /// <summary>
    /// Hugging Face's <c>create_position_ids_from_input_ids</c>, as <c>RobertaConfig.PositionIds</c> computes it: real
    /// tokens count padding_idx + 1, + 2, … and padding keeps padding_idx.
    /// </summary>
    private string RobertaPositionIds(OnnxGraphBuilder g, string inputIds)
    {
        var padding = g.Node("Equal", [inputIds, g.Scalar((long)config.PadTokenId)], "position.is_pad");
        var real = g.Node("Cast", [g.Node("Not", [padding], "position.is_real")], "position.real", ("to", (long)TensorProto.Types.DataType.Int64));
        var counted = g.Node("CumSum", [real, g.Scalar(1L)], "position.counted");
        return g.Node("Add", [g.Node("Mul", [counted, real], "position.masked"), g.Scalar((long)config.PadTokenId)], "position_ids");
    }

    /// <summary>[B, T] 1/0 mask → [B, 1, 1, T] additive mask: 0 where attended, float's minimum where padded (EncoderModel.AdditiveMask).</summary>
    internal static string ExtendedMask(OnnxGraphBuilder g, string attentionMask)
    {
        var maskFloat = g.Node("Cast", [attentionMask], "mask.float", ("to", (long)TensorProto.Types.DataType.Float));
        var padded = g.Node("Sub", [g.Scalar(1f), maskFloat], "mask.padded");
        var additive = g.Node("Mul", [padded, g.Scalar(float.MinValue)], "mask.additive");
        return g.Node("Unsqueeze", [additive, g.Int64s("mask.axes", 1, 2)], "extended_attention_mask");
    }

    /// <summary>One post-LayerNorm transformer layer, whatever its family calls the modules (<paramref name="n"/>).</summary>
    internal static string Layer(OnnxGraphBuilder g, OnnxWeights w, BertConfig config, OnnxLayerNames n, string p, string hidden, string mask, float eps)
    {
        int heads = config.NumAttentionHeads, headDim = config.HeadDim;
        var splitShape = g.Int64s(p + "heads_shape", 0, 0, heads, headDim);
        // [B, T, H] -> [B, T, heads, headDim] -> [B, heads, T, headDim] (keys: [B, heads, headDim, T], ready for QKᵀ)
        string Heads(string module, long[] perm) =>
            g.Node("Transpose", [g.Node("Reshape", [Linear(g, w, p + module, hidden), splitShape], p + module + ".heads")], p + module + ".t", ("perm", perm));
        var query = Heads(n.Query, [0, 2, 1, 3]);
        var key = Heads(n.Key, [0, 2, 3, 1]);
        var value = Heads(n.Value, [0, 2, 1, 3]);
        var scores = g.Node("Mul", [g.Node("MatMul", [query, key], p + "attention.scores"), g.Scalar((float)(1.0 / Math.Sqrt(headDim)))], p + "attention.scaled");
        var probabilities = g.Node("Softmax", [g.Node("Add", [scores, mask], p + "attention.masked")], p + "attention.probs", ("axis", -1L));
        var context = g.Node("MatMul", [probabilities, value], p + "attention.context");
        // [B, heads, T, headDim] -> [B, T, heads, headDim] -> [B, T, H]
        var merged = g.Node("Reshape", [g.Node("Transpose", [context], p + "attention.context.t", ("perm", new long[] { 0, 2, 1, 3 })),
            g.Int64s(p + "merged_shape", 0, 0, config.HiddenSize)], p + "attention.merged");
        var attended = LayerNorm(g, w, p + n.AttentionNorm,
            g.Node("Add", [Linear(g, w, p + n.AttentionOutput, merged), hidden], p + "attention.residual"), eps);
        var intermediate = Activation(g, config, Linear(g, w, p + n.Intermediate, attended), p + "intermediate.act");
        return LayerNorm(g, w, p + n.OutputNorm,
            g.Node("Add", [Linear(g, w, p + n.Output, intermediate), attended], p + "output.residual"), eps);
    }

    private static string Activation(OnnxGraphBuilder g, BertConfig config, string x, string name)
    {
        switch (config.HiddenAct)
        {
            case "gelu":
                // Opset 17 has no Gelu: x · ½ · (1 + erf(x / √2)), the exact form torch's gelu computes.
                var erf = g.Node("Erf", [g.Node("Mul", [x, g.Scalar((float)(1 / Math.Sqrt(2)))], name + ".scaled")], name + ".erf");
                return g.Node("Mul", [g.Node("Mul", [x, g.Scalar(0.5f)], name + ".half"), g.Node("Add", [erf, g.Scalar(1f)], name + ".one_plus")], name);
            case "gelu_new" or "gelu_pytorch_tanh":
                // ½ · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))
                var cube = g.Node("Mul", [g.Node("Mul", [x, x], name + ".sq"), x], name + ".cube");
                var inner = g.Node("Add", [x, g.Node("Mul", [cube, g.Scalar(0.044715f)], name + ".cubic")], name + ".inner");
                var tanh = g.Node("Tanh", [g.Node("Mul", [inner, g.Scalar((float)Math.Sqrt(2 / Math.PI))], name + ".arg")], name + ".tanh");
                return g.Node("Mul", [g.Node("Mul", [x, g.Scalar(0.5f)], name + ".half"), g.Node("Add", [tanh, g.Scalar(1f)], name + ".one_plus")], name);
            case "relu":
                return g.Node("Relu", [x], name);
            default:
                throw new InvalidDataException($"hidden_act '{config.HiddenAct}' has no ONNX export; supported: gelu, gelu_new, gelu_pytorch_tanh, relu.");
        }
    }

    /// <summary>
    /// <c>x Wᵀ + b</c> as MatMul then Add, the pair the int8 pass quantizes and ONNX Runtime fuses. The outputs are named
    /// after the module, or after <c>outputHint</c> when a caller marks them (the head, which int8 keeps in float32).
    /// </summary>
    internal static string Linear(OnnxGraphBuilder g, OnnxWeights w, string module, string x, string? outputHint = null) =>
        g.Node("Add", [g.Node("MatMul", [x, w.AddTransposed(g, module + ".weight")], (outputHint ?? module) + ".matmul"), w.Add(g, module + ".bias")], outputHint ?? module);

    internal static string LayerNorm(OnnxGraphBuilder g, OnnxWeights w, string module, string x, float eps) =>
        g.Node("LayerNormalization", [x, w.Add(g, module + ".weight"), w.Add(g, module + ".bias")], module, ("axis", -1L), ("epsilon", eps));
}
