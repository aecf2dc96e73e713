using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace MLNetTuning.Onnx;

/// <summary>
/// Dynamic int8 quantization of a float graph's weight products, as ONNX Runtime's <c>quantize_dynamic</c> writes it with
/// per-channel int8 weights: each <c>MatMul(x, W)</c> with a constant W becomes
/// <c>DynamicQuantizeLinear(x) → MatMulInteger(x_q, W_q, x_zero) → Cast → Mul(a_scale · w_scale)</c>. That exact shape is the
/// pattern ONNX Runtime's CPU optimizer fuses into one <c>DynamicQuantizeMatMul</c> kernel.
/// </summary>
/// <remarks>
/// Weights are symmetric (zero point 0, range ±127) per output column, so an outlier column does not coarsen the others.
/// Activations use the asymmetric uint8 range that DynamicQuantizeLinear computes per call. Products between two
/// activations (attention scores and context) and MatMuls whose output starts with <see cref="KeepFloatPrefix"/> (the
/// task head: tiny, and closest to the decision) stay float32.
/// </remarks>
internal static class OnnxInt8
{
    public const string KeepFloatPrefix = "head/";

    /// <summary>Rewrites <paramref name="graph"/> in place; returns how many MatMuls were quantized.</summary>
    public static int Quantize(GraphProto graph)
    {
        var initializers = graph.Initializer.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var quantizedInputs = new Dictionary<string, (string Q, string Scale, string ZeroPoint)>(StringComparer.Ordinal);
        var nodes = new List<NodeProto>(graph.Node.Count * 2);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        int count = 0;
        foreach (var node in graph.Node)
        {
            if (node.OpType != "MatMul" || node.Output[0].StartsWith(KeepFloatPrefix, StringComparison.Ordinal)
                || !initializers.TryGetValue(node.Input[1], out var weight) || weight.Dims.Count != 2 || weight.DataType != (int)TensorProto.Types.DataType.Float)
            {
                nodes.Add(node);
                continue;
            }
            string x = node.Input[0], output = node.Output[0];
            if (!quantizedInputs.TryGetValue(x, out var xq))
            {
                // One DynamicQuantizeLinear per activation: the query, key and value products share theirs.
                xq = ($"{x}_quantized", $"{x}_scale", $"{x}_zero_point");
                nodes.Add(Node("DynamicQuantizeLinear", [x], [xq.Q, xq.Scale, xq.ZeroPoint], $"{x}_QuantizeLinear"));
                quantizedInputs[x] = xq;
            }
            var (wq, wScale) = QuantizeWeight(weight, graph);
            replaced.Add(weight.Name);
            nodes.Add(Node("MatMulInteger", [xq.Q, wq, xq.ZeroPoint], [$"{output}_int32"], $"{node.Name}_MatMulInteger"));
            var cast = Node("Cast", [$"{output}_int32"], [$"{output}_int32_float"], $"{node.Name}_Cast");
            cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
            nodes.Add(cast);
            nodes.Add(Node("Mul", [xq.Scale, wScale], [$"{output}_scales"], $"{node.Name}_scales"));
            nodes.Add(Node("Mul", [$"{output}_int32_float", $"{output}_scales"], [output], $"{node.Name}_dequantize"));
            count++;
        }
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        // The float weights are gone from the graph; dropping them is where the 4× smaller products come from.
        var kept = graph.Initializer.Where(i => !replaced.Contains(i.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.AddRange(kept);
        return count;
    }

    /// <summary>W [K, N] float → int8 [K, N] and a float scale per output column [N]; adds both initializers.</summary>
    internal static (string Quantized, string Scale) QuantizeWeight(TensorProto weight, GraphProto graph)
    {
        int rows = checked((int)weight.Dims[0]), columns = checked((int)weight.Dims[1]);
        var values = MemoryMarshal.Cast<byte, float>(weight.RawData.Span);
        if (values.Length != rows * columns)
            throw new InvalidDataException($"Initializer '{weight.Name}' has {values.Length} raw floats for the shape [{rows}, {columns}]; int8 needs raw_data.");
        var scales = new float[columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                scales[c] = Math.Max(scales[c], Math.Abs(values[r * columns + c]));
        for (int c = 0; c < columns; c++) scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;   // an all-zero column: any scale, 0 stays 0
        var quantized = new sbyte[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
                quantized[r * columns + c] = (sbyte)Math.Clamp(MathF.Round(values[r * columns + c] / scales[c], MidpointRounding.ToEven), -127, 127);

        var q = new TensorProto { Name = weight.Name + "_quantized", DataType = (int)TensorProto.Types.DataType.Int8, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(quantized.AsSpan())) };
        q.Dims.AddRange([rows, columns]);
        var s = new TensorProto { Name = weight.Name + "_scale", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(scales.AsSpan())) };
        s.Dims.Add(columns);
        graph.Initializer.Add(q);
        graph.Initializer.Add(s);
        return (q.Name, s.Name);
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, string name)
    {
        var node = new NodeProto { OpType = op, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }
}
