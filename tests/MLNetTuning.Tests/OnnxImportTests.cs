using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using Onnx;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

[Collection(RealModelCollection.Name)]
public sealed class OnnxImportTests : IClassFixture<OnnxImportFixture>
{
    internal const string MiniLm = "all-MiniLM-L6-v2";
    internal const string ArcticXs = "snowflake-arctic-embed-xs";

    // Importing parses 90 MB; the tests share one import and one parsed graph per model (released when the class ends).
    private readonly Lazy<(Dictionary<string, Tensor> StateDict, TimeSpan Elapsed)> MiniLmImport, ArcticImport;
    private readonly Lazy<GraphProto> MiniLmGraph, ArcticGraph;

    private readonly ITestOutputHelper _output;

    public OnnxImportTests(OnnxImportFixture imports, ITestOutputHelper output)
    {
        TorchNativeLoader.EnsureLoaded();
        (MiniLmImport, ArcticImport, MiniLmGraph, ArcticGraph) = (imports.MiniLmImport, imports.ArcticImport, imports.MiniLmGraph, imports.ArcticGraph);
        _output = output;
    }

    [Fact]
    public void MiniLm_ImportsEveryBertModelKeyWithTheConfigShapes()
    {
        var (stateDict, elapsed) = MiniLmImport.Value;
        _output.WriteLine($"imported {stateDict.Count} tensors in {elapsed.TotalMilliseconds:F0} ms");
        var expected = OnnxBertImporter.ExpectedShapes(EmbeddedModels.Get(MiniLm).CreateConfig());

        Assert.Equal(6 * 16 + 5 + 2, expected.Count);
        Assert.Equal(expected.Keys.Order(), stateDict.Keys.Order());
        foreach (var (key, shape) in expected)
        {
            Assert.True(shape.SequenceEqual(stateDict[key].shape), $"{key}: expected {OnnxBertImporter.Format(shape)}, got {OnnxBertImporter.Format(stateDict[key].shape)}");
            Assert.Equal(ScalarType.Float32, stateDict[key].dtype);
            Assert.True(stateDict[key].is_contiguous(), key);
        }
        // Trained LayerNorm gains sit near 1 and trained embeddings are not all zero: the bytes landed where they belong.
        Assert.InRange(stateDict["embeddings.LayerNorm.weight"].mean().item<float>(), 0.2f, 2f);
        Assert.True(stateDict["embeddings.word_embeddings.weight"].abs().sum().item<float>() > 1000f);
    }

    [Fact]
    public void ArcticXs_ImportsEverythingButThePrunedPooler()
    {
        var (stateDict, elapsed) = ArcticImport.Value;
        _output.WriteLine($"imported {stateDict.Count} tensors in {elapsed.TotalMilliseconds:F0} ms");
        var expected = OnnxBertImporter.ExpectedShapes(EmbeddedModels.Get(ArcticXs).CreateConfig());

        Assert.Equal(expected.Keys.Where(k => !k.StartsWith("pooler.")).Order(), stateDict.Keys.Order());
        foreach (var (key, tensor) in stateDict) Assert.True(expected[key].SequenceEqual(tensor.shape), key);
    }

    [Fact]
    public void ArcticXs_WithoutAllowMissingPooler_ReportsThePoolerKeys()
    {
        var model = EmbeddedModels.Get(ArcticXs);
        using var onnx = model.OpenOnnx();
        var error = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ImportStateDict(onnx, model.CreateConfig(), "arctic.onnx"));
        _output.WriteLine(error.Message);
        Assert.StartsWith("arctic.onnx", error.Message);
        Assert.Contains("pooler.dense.weight", error.Message);
        Assert.Contains("pooler.dense.bias", error.Message);
        Assert.Contains("allowMissingPooler", error.Message);
    }

    [Fact]
    public void ArcticXs_EachMatMulWeight_IsTheTransposeOfTheInitializerItsNodeNameNames()
    {
        // This export names each node after its module ("/encoder/layer.0/attention/self/query/MatMul"): an account
        // of which weight is which that does not depend on the bias-following the importer does.
        var stateDict = ArcticImport.Value.StateDict;
        var initializers = ArcticGraph.Value.Initializer.ToDictionary(i => i.Name);
        int checkedWeights = 0;
        foreach (var node in ArcticGraph.Value.Node.Where(n => n.OpType == "MatMul" && initializers.ContainsKey(n.Input[1])))
        {
            string key = node.Name.TrimStart('/').Replace("/MatMul", "").Replace('/', '.') + ".weight";
            var init = initializers[node.Input[1]];
            using var stored = tensor(MemoryMarshal.Cast<byte, float>(init.RawData.Span).ToArray(), init.Dims.ToArray());   // [in, out]
            Assert.True(SameValues(stateDict[key], stored.t()), $"{key} is not the transpose of '{init.Name}'");
            checkedWeights++;
        }
        Assert.Equal(6 * 6, checkedWeights);
    }

    [Fact]
    public void MiniLm_ImportedPooler_ReproducesOnnxRuntimesPooledOutput()
    {
        // pooled = tanh(W · h[CLS] + b) with W in Linear's [out, in] layout: a transposition error would show here.
        var model = EmbeddedModels.Get(MiniLm);
        long[] ids = [101, 7592, 2088, 102, 0, 101, 2023, 2003, 1037, 102];   // [CLS] hello world [SEP] [PAD]; [CLS] this is a [SEP]
        long[] mask = [1, 1, 1, 1, 0, 1, 1, 1, 1, 1];
        var reference = OrtReference.Run(model, ids, mask, new long[ids.Length], batch: 2, length: 5);
        Assert.Equal(384, reference.Hidden);
        Assert.NotNull(reference.Pooled);

        var stateDict = MiniLmImport.Value.StateDict;
        using var scope = NewDisposeScope();
        var cls = tensor(reference.LastHiddenState, [2, 5, 384]).select(1, 0);   // [B, T, H] -> [B, H] at [CLS]
        var pooled = nn.functional.linear(cls, stateDict["pooler.dense.weight"], stateDict["pooler.dense.bias"]).tanh();
        var expected = tensor(reference.Pooled!, [2, 384]);
        float maxError = (pooled - expected).abs().max().item<float>();
        _output.WriteLine($"pooler max |torch - ORT| = {maxError:E2}");
        Assert.True(maxError < 1e-4f, $"max error {maxError}");
        var transposedError = (nn.functional.linear(cls, stateDict["pooler.dense.weight"].t(), stateDict["pooler.dense.bias"]).tanh() - expected).abs().max().item<float>();
        Assert.True(transposedError > 1e-2f, "the check cannot tell W from W.T");
    }

    [Theory]
    [InlineData(MiniLm)]
    [InlineData(ArcticXs)]
    public void EmbeddedGraph_AgreesWithThePublishedConfigWhereWeightsCannotTell(string name)
    {
        var config = EmbeddedModels.Get(name).CreateConfig();
        var graph = name == MiniLm ? MiniLmGraph.Value : ArcticGraph.Value;
        var constants = GraphConstants(graph);
        var producers = graph.Node.SelectMany(n => n.Output.Select(o => (o, n))).ToDictionary(p => p.o, p => p.n);

        // Attention reshapes [B, T, H] -> [B, T, heads, headDim]: their target shapes end with the two constants.
        var reshapeTails = graph.Node.Where(n => n.OpType == "Reshape" && producers.TryGetValue(n.Input[1], out var p) && p.OpType == "Concat")
            .Select(n => producers[n.Input[1]].Input.Select(i => Resolve(i, constants, producers)).ToArray())
            .Where(parts => parts.Length == 4 && parts[2] is not null && parts[3] is not null)
            .Select(parts => ((long)parts[2]!.Value, (long)parts[3]!.Value)).Distinct().ToList();
        Assert.Equal(new[] { (config.NumAttentionHeads, config.HeadDim) }, reshapeTails.Select(t => ((int)t.Item1, (int)t.Item2)));

        // LayerNorm is exported as (x - mean) / Sqrt(var + eps).
        var epsilons = graph.Node.Where(n => n.OpType == "Sqrt").Select(n => producers[n.Input[0]])
            .Select(add => add.Input.Select(i => Resolve(i, constants, producers)).Single(v => v is not null)!.Value).Distinct().ToList();
        Assert.Equal((float)config.LayerNormEps, (float)Assert.Single(epsilons));

        Assert.Equal("gelu", config.HiddenAct);   // exact gelu is exported as x * 0.5 * (1 + Erf(x / √2)), once per layer
        Assert.Equal(config.NumHiddenLayers, graph.Node.Count(n => n.OpType == "Erf"));
    }

    [Fact]
    public void ConfigWithAnotherHiddenSize_ListsEachKeyWithBothShapes()
    {
        var model = EmbeddedModels.Get(MiniLm);
        var config = model.CreateConfig();
        config.HiddenSize = 768;
        using var onnx = model.OpenOnnx();
        var error = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ImportStateDict(onnx, config, "minilm.onnx"));
        _output.WriteLine(error.Message);
        Assert.StartsWith("minilm.onnx", error.Message);
        Assert.Contains("embeddings.word_embeddings.weight: the config expects [30522, 768], but the graph has the initializer 'embeddings.word_embeddings.weight' [30522, 384]", error.Message);
        Assert.Matches(@"encoder\.layer\.0\.intermediate\.dense\.weight: the config expects \[1536, 768\], but the graph has the MatMul initializer '\d+' \[384, 1536\] \[in, out\], transposed to \[1536, 384\]", error.Message);
    }

    [Fact]
    public void ConfigWithFewerLayers_ReportsTheGraphsExtraLayers()
    {
        var model = EmbeddedModels.Get(MiniLm);
        var config = model.CreateConfig();
        config.NumHiddenLayers = 4;
        using var onnx = model.OpenOnnx();
        var error = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ImportStateDict(onnx, config, "minilm.onnx"));
        _output.WriteLine(error.Message);
        Assert.Contains("not in a BertModel with this config", error.Message);
        Assert.Contains("encoder.layer.5.output.dense.weight", error.Message);
        Assert.DoesNotContain("encoder.layer.3.", error.Message);
    }

    [Theory]
    [InlineData(1_000)]
    [InlineData(40_000_000)]
    public void TruncatedModel_ThrowsInvalidDataNamingTheSource(int keptBytes)
    {
        var model = EmbeddedModels.Get(MiniLm);
        var bytes = new byte[keptBytes];
        using (var onnx = model.OpenOnnx()) onnx.ReadExactly(bytes);
        var error = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ImportStateDict(new MemoryStream(bytes), model.CreateConfig(), "/models/cut.onnx"));
        _output.WriteLine(error.Message);
        Assert.StartsWith("/models/cut.onnx", error.Message);
    }

    [Fact]
    public void TextFile_ThrowsInvalidDataNamingTheSource()
    {
        var notOnnx = new MemoryStream("{\"hidden_size\": 384}\n"u8.ToArray());
        var error = Assert.Throws<InvalidDataException>(() => OnnxBertImporter.ImportStateDict(notOnnx, EmbeddedModels.Get(MiniLm).CreateConfig(), "config.json"));
        _output.WriteLine(error.Message);
        Assert.StartsWith("config.json", error.Message);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void TinyExport_FloatDataOrRawData_PrefixAndBothAddOrders_RoundTripsExactly(bool rawData, bool bertPrefix)
    {
        var config = new BertConfig { VocabSize = 11, HiddenSize = 4, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 6, MaxPositionEmbeddings = 7 };
        var (bytes, weights) = TinyExport.Build(config, rawData, bertPrefix ? "bert." : "");

        var stateDict = OnnxBertImporter.ImportStateDict(new MemoryStream(bytes), config, "tiny.onnx");
        Assert.Equal(weights.Keys.Order(), stateDict.Keys.Order());
        foreach (var (key, (values, shape)) in weights)
        {
            using var expected = tensor(values, shape);
            Assert.True(SameValues(stateDict[key], expected), key);
        }
    }

    [Fact]
    public void EmbeddedModels_FindsNamesAndHubIdsIgnoringCase()
    {
        Assert.True(EmbeddedModels.TryGet("ALL-minilm-L6-V2", out var miniLm));
        Assert.Equal(MiniLm, miniLm.Name);
        Assert.True(EmbeddedModels.TryGet("sentence-transformers/all-MiniLM-L6-v2", out var byHubId));
        Assert.Same(miniLm, byHubId);
        Assert.True(EmbeddedModels.TryGet("snowflake/SNOWFLAKE-arctic-embed-xs", out var arctic));
        Assert.Equal(ArcticXs, arctic.Name);
        Assert.False(EmbeddedModels.TryGet("bert-base-uncased", out _));
        Assert.Equal(new[] { MiniLm, ArcticXs }, EmbeddedModels.Names);
        Assert.True(miniLm.LowerCase && miniLm.HasPooler && !arctic.HasPooler);

        var error = Assert.Throws<ArgumentException>(() => EmbeddedModels.Get("bert-base-uncased"));

        _output.WriteLine(error.Message);
        Assert.Contains("'bert-base-uncased'", error.Message);
        Assert.Contains(MiniLm, error.Message);
        Assert.Contains(ArcticXs, error.Message);
    }

    [Theory]
    [InlineData(MiniLm)]
    [InlineData(ArcticXs)]
    public void EmbeddedVocab_HasOneTokenPerIdOfTheConfig(string name)
    {
        var model = EmbeddedModels.Get(name);
        using var reader = new StreamReader(model.OpenVocab());
        var tokens = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var config = model.CreateConfig();
        Assert.Equal(config.VocabSize, tokens.Length);
        Assert.Equal("[PAD]", tokens[config.PadTokenId].Trim());
        Assert.Equal("[CLS]", tokens[101].Trim());
        Assert.Equal("hello", tokens[7592].Trim());
    }

    private static bool SameValues(Tensor actual, Tensor expected) =>
        actual.shape.SequenceEqual(expected.shape) && actual.eq(expected).all().item<bool>();

    internal static (Dictionary<string, Tensor>, TimeSpan) Import(string name)
    {
        var clock = Stopwatch.StartNew();
        var stateDict = EmbeddedModels.Get(name).LoadStateDict();
        return (stateDict, clock.Elapsed);
    }

    internal static GraphProto ReadGraph(string name)
    {
        using var onnx = EmbeddedModels.Get(name).OpenOnnx();
        return OnnxBertImporter.ReadGraph(onnx, name);
    }

    /// <summary>Scalar (or one-element) constants by value name, from initializers and Constant nodes.</summary>
    private static Dictionary<string, double> GraphConstants(GraphProto graph)
    {
        var constants = new Dictionary<string, double>();
        void Take(string name, TensorProto t)
        {
            if (t.Dims.Aggregate(1L, (a, d) => a * d) != 1) return;
            var raw = t.RawData.Span;
            double? value = (TensorProto.Types.DataType)t.DataType switch
            {
                TensorProto.Types.DataType.Int64 => raw.Length == 8 ? BitConverter.ToInt64(raw) : t.Int64Data.FirstOrDefault(),
                TensorProto.Types.DataType.Float => raw.Length == 4 ? BitConverter.ToSingle(raw) : t.FloatData.FirstOrDefault(),
                _ => null,
            };
            if (value is double v) constants[name] = v;
        }
        foreach (var init in graph.Initializer) Take(init.Name, init);
        foreach (var node in graph.Node.Where(n => n.OpType == "Constant" && n.Attribute.Count == 1 && n.Attribute[0].T is not null))
            Take(node.Output[0], node.Attribute[0].T);
        return constants;
    }

    /// <summary>A value's constant, looking through the Unsqueeze that torch.onnx puts before a Concat.</summary>
    private static double? Resolve(string name, Dictionary<string, double> constants, Dictionary<string, NodeProto> producers)
    {
        if (constants.TryGetValue(name, out double value)) return value;
        return producers.TryGetValue(name, out var node) && node.OpType == "Unsqueeze" ? Resolve(node.Input[0], constants, producers) : null;
    }
}

/// <summary>Writes a tiny BERT the way torch.onnx does: named embeddings, biases and LayerNorms; anonymous [in, out] MatMul weights.</summary>
internal static class TinyExport
{
    /// <returns>The serialized model and every weight in Hugging Face's layout, by key.</returns>
    public static (byte[] Bytes, Dictionary<string, (float[] Values, long[] Shape)> Weights) Build(BertConfig config, bool rawData, string prefix)
    {
        var random = new Random(1234);
        var weights = new Dictionary<string, (float[], long[])>();
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(new ValueInfoProto { Name = "x" });
        // A buffer that torch exports but BertModel's state dict leaves out.
        graph.Initializer.Add(new TensorProto { Name = prefix + "embeddings.position_ids", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1, config.MaxPositionEmbeddings }, Int64Data = { Enumerable.Range(0, config.MaxPositionEmbeddings).Select(i => (long)i) } });

        int anonymous = 0;
        foreach (var (key, shape) in OnnxBertImporter.ExpectedShapes(config))
        {
            var values = Enumerable.Range(0, (int)shape.Aggregate(1L, (a, d) => a * d)).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            weights[key] = (values, shape);
            bool linearWeight = shape.Length == 2 && !key.StartsWith("embeddings.");
            if (!linearWeight) { graph.Initializer.Add(Initializer(prefix + key, values, shape, rawData)); continue; }

            string module = key[..^".weight".Length], bias = prefix + module + ".bias", name = $"onnx::MatMul_{1000 + anonymous}";
            int index = anonymous++;
            if (module == "pooler.dense")
            {
                // Gemm(A, B, C): a named weight keeps Linear's [out, in] with transB = 1; an anonymous one is [in, out].
                bool named = prefix.Length > 0;
                graph.Initializer.Add(named ? Initializer(prefix + key, values, shape, rawData) : Initializer(name, Transpose(values, shape), [shape[1], shape[0]], rawData));
                graph.Node.Add(new NodeProto { OpType = "Gemm", Input = { "x", named ? prefix + key : name, bias }, Output = { "pooled" }, Attribute = { new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = named ? 1 : 0 } } });
                continue;
            }
            graph.Initializer.Add(Initializer(name, Transpose(values, shape), [shape[1], shape[0]], rawData));
            graph.Node.Add(new NodeProto { OpType = "MatMul", Input = { "x", name }, Output = { $"product{index}" } });
            // torch 1.x writes Add(bias, product), torch 2.x Add(product, bias) in places: alternate.
            graph.Node.Add(new NodeProto { OpType = "Add", Input = { index % 2 == 0 ? bias : $"product{index}", index % 2 == 0 ? $"product{index}" : bias }, Output = { $"sum{index}" } });
        }
        var model = new ModelProto { IrVersion = 7, ProducerName = "tests", Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
        return (model.ToByteArray(), weights);
    }

    private static TensorProto Initializer(string name, float[] values, long[] shape, bool rawData)
    {
        var init = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, Dims = { shape } };
        if (rawData) init.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        else init.FloatData.AddRange(values);
        return init;
    }

    private static float[] Transpose(float[] values, long[] shape)   // [rows, cols] -> [cols, rows]
    {
        int rows = (int)shape[0], cols = (int)shape[1];
        var result = new float[values.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) result[c * rows + r] = values[r * cols + c];
        return result;
    }
}
