using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace MLNetTuning.Onnx;

/// <summary>
/// Builds an ONNX <see cref="GraphProto"/> node by node with the protobuf classes: fresh value names, initializers from
/// float or integer arrays, and attributes by type. Families and heads describe their graph through it, never through bytes.
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>The default-domain opset the graphs are written for: 17 has LayerNormalization, the oldest opset we need.</summary>
    public const long Opset = 17;

    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);

    public GraphProto Graph { get; } = new() { Name = "main" };

    /// <summary>A name not used before in this graph, built from <paramref name="hint"/> (a module path such as <c>encoder.layer.0.attention</c>).</summary>
    public string Fresh(string hint)
    {
        _counters.TryGetValue(hint, out int n);
        _counters[hint] = n + 1;
        return n == 0 ? hint : $"{hint}_{n}";
    }

    /// <summary>Adds a graph input of element type <paramref name="elementType"/> whose dimensions are named (dynamic) or fixed.</summary>
    public string Input(string name, TensorProto.Types.DataType elementType, params object[] dims)
    {
        Graph.Input.Add(ValueInfo(name, elementType, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> as a graph output named <paramref name="name"/> (an Identity renames it when needed).</summary>
    public void Output(string value, string name, TensorProto.Types.DataType elementType, params object[] dims)
    {
        if (value != name) Node("Identity", [value], name);
        Graph.Output.Add(ValueInfo(name, elementType, dims));
    }

    /// <summary>A float initializer named <paramref name="name"/> holding <paramref name="values"/> (row-major) with shape <paramref name="dims"/>.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims) =>
        AddInitializer(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values), dims, values.Length);

    public string Initializer(string name, ReadOnlySpan<long> values, params long[] dims) =>
        AddInitializer(name, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(values), dims, values.Length);

    public string Initializer(string name, ReadOnlySpan<sbyte> values, params long[] dims) =>
        AddInitializer(name, TensorProto.Types.DataType.Int8, MemoryMarshal.AsBytes(values), dims, values.Length);

    /// <summary>A scalar float constant (shape []), named after its value so that equal constants are shared.</summary>
    public string Scalar(float value)
    {
        string name = $"const_f_{BitConverter.SingleToInt32Bits(value):X8}";
        return Graph.Initializer.Any(i => i.Name == name) ? name : Initializer(name, [value]);
    }

    /// <summary>A scalar int64 constant (shape []).</summary>
    public string Scalar(long value)
    {
        string name = $"const_i_{value}";
        return Graph.Initializer.Any(i => i.Name == name) ? name : Initializer(name, [value]);
    }

    /// <summary>A 1-D int64 constant (axes, shapes).</summary>
    public string Int64s(string hint, params long[] values) => Initializer(Fresh(hint), values, values.Length);

    /// <summary>Adds a node with one output, named from <paramref name="output"/> (made fresh), and returns that output.</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, string output, params (string Name, object Value)[] attributes) =>
        NodeMulti(opType, inputs, [output], attributes)[0];

    /// <summary>Adds a node with several outputs (made fresh from their hints), in order.</summary>
    public string[] NodeMulti(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, params (string Name, object Value)[] attributes)
    {
        var names = outputs.Select(Fresh).ToArray();
        var node = new NodeProto { OpType = opType, Name = Fresh($"{opType}:{names[0]}") };
        node.Input.AddRange(inputs);
        node.Output.AddRange(names);
        foreach (var (name, value) in attributes) node.Attribute.Add(Attribute(name, value));
        Graph.Node.Add(node);
        return names;
    }

    /// <summary>The model: this graph, opset <see cref="Opset"/>, IR version 8 (the first with opset 17), and the producer.</summary>
    public ModelProto ToModel(string producerVersion, IEnumerable<KeyValuePair<string, string>> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "MLNetTuning",
            ProducerVersion = producerVersion,
            Graph = Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    private string AddInitializer(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> bytes, long[] dims, long count)
    {
        long expected = dims.Aggregate(1L, (a, d) => a * d);
        if (expected != count) throw new ArgumentException($"Initializer '{name}' has {count} values, but the shape [{string.Join(", ", dims)}] needs {expected}.", nameof(dims));
        // raw_data is little-endian by the ONNX spec, which is the layout of every platform .NET and ONNX Runtime run on.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX export needs a little-endian platform.");
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(dims);
        Graph.Initializer.Add(tensor);
        return name;
    }

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType elementType, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
            shape.Dim.Add(dim switch
            {
                string param => new TensorShapeProto.Types.Dimension { DimParam = param },
                int value => new TensorShapeProto.Types.Dimension { DimValue = value },
                long value => new TensorShapeProto.Types.Dimension { DimValue = value },
                _ => throw new ArgumentException($"Dimension '{dim}' of '{name}' must be a name or a size.", nameof(dims)),
            });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elementType, Shape = shape } },
        };
    }

    private static AttributeProto Attribute(string name, object value) => value switch
    {
        long i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        int i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
        double f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = (float)f },
        long[] ints => WithInts(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints }, ints),
        _ => throw new ArgumentException($"Attribute '{name}' has the unsupported type {value.GetType().Name}.", nameof(value)),
    };

    private static AttributeProto WithInts(AttributeProto attribute, long[] ints)
    {
        attribute.Ints.AddRange(ints);
        return attribute;
    }
}
