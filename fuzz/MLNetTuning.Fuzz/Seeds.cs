using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Google.Protobuf;
using Microsoft.ML;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Text;
using Onnx;
using static TorchSharp.torch;

namespace MLNetTuning.Fuzz;

/// <summary>
/// Writes the seed corpus (fuzz/corpus/TARGET/*) and the model-zip template (fuzz/templates/model.zip): small valid files
/// made by this library itself, so that afl-fuzz starts from inputs that load and mutates from there. Small on purpose:
/// afl-fuzz mutates every byte of a seed in its first pass, and a seed above a few kB slows every execution.
/// </summary>
internal static class Seeds
{
    private static readonly string[] Vocab =
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "spam", "ham", "free", "money", "meeting", "##s", "##ing", ",", "!", "東", "京"];

    /// <summary>The template a zip input is packed into; MLNT_FUZZ_TEMPLATE overrides where it is.</summary>
    public static string TemplatePath =>
        Environment.GetEnvironmentVariable("MLNT_FUZZ_TEMPLATE") is { Length: > 0 } path ? path
        : Path.Combine(AppContext.BaseDirectory, "templates", "model.zip");

    /// <summary>The sizes the ONNX target imports against (vocab 8, hidden 4, one layer).</summary>
    public static BertConfig OnnxConfig() => new()
    {
        VocabSize = 8, HiddenSize = 4, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 8, MaxPositionEmbeddings = 8,
    };

    /// <param name="fuzzDir">The repository's fuzz/ folder.</param>
    public static void Write(string fuzzDir)
    {
        Native.TorchNativeLoader.EnsureLoaded();
        string corpus = Path.Combine(fuzzDir, "corpus");
        string folder = TinyFolder();
        try
        {
            // safetensors: every dtype in a few bytes, and the tiny model's weights.
            var small = new Dictionary<string, Tensor>
            {
                ["f32"] = tensor(new[] { 1f, -2f, 3.5f }), ["i64"] = tensor(new long[] { 7, -1 }), ["bool"] = tensor(new[] { true, false }),
                ["bf16"] = tensor(new[] { 0.5f, 2f }).to_type(ScalarType.BFloat16), ["f16"] = tensor(new[] { 1f }).to_type(ScalarType.Float16),
                ["u8"] = tensor(new byte[] { 1, 255 }), ["i8"] = tensor(new sbyte[] { -3 }), ["i16"] = tensor(new short[] { 300 }),
                ["i32"] = tensor(new[] { 1 << 20 }), ["f64"] = tensor(new[] { Math.PI }), ["empty"] = zeros(0, 3), ["matrix"] = ones(2, 2),
            };
            Directory.CreateDirectory(Path.Combine(corpus, "safetensors"));
            SafeTensors.Save(Path.Combine(corpus, "safetensors", "dtypes.safetensors"), small, metadata: new Dictionary<string, string> { ["note"] = "seed" });
            SafeTensors.Save(Path.Combine(corpus, "safetensors", "one.safetensors"), [KeyValuePair.Create("a", tensor(new[] { 1f, 2f }))]);
            File.Copy(Path.Combine(folder, "model.safetensors"), Path.Combine(corpus, "safetensors", "tiny-bert.safetensors"), overwrite: true);
            foreach (var t in small.Values) t.Dispose();

            // config.json: the tiny model's, and one with labels and extra keys as transformers writes them.
            Directory.CreateDirectory(Path.Combine(corpus, "config"));
            File.Copy(Path.Combine(folder, "config.json"), Path.Combine(corpus, "config", "tiny.json"), overwrite: true);
            var labelled = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!.AsObject();
            labelled["id2label"] = new JsonObject { ["0"] = "ham", ["1"] = "spam", ["2"] = "other" };
            labelled["label2id"] = new JsonObject { ["ham"] = 0, ["spam"] = 1, ["other"] = 2 };
            labelled["num_labels"] = 3;
            labelled["problem_type"] = "single_label_classification";
            labelled["classifier_dropout"] = null;
            labelled["transformers_version"] = "4.44.0";
            File.WriteAllText(Path.Combine(corpus, "config", "labelled.json"), labelled.ToJsonString());

            Directory.CreateDirectory(Path.Combine(corpus, "vocab"));
            File.Copy(Path.Combine(folder, "vocab.txt"), Path.Combine(corpus, "vocab", "vocab.txt"), overwrite: true);

            Directory.CreateDirectory(Path.Combine(corpus, "tokenizer"));
            byte[] tokenizerJson = Encoding.UTF8.GetBytes(TokenizerJson().ToJsonString());
            File.WriteAllBytes(Path.Combine(corpus, "tokenizer", "tokenizer.json"), tokenizerJson);
            byte[] config = File.ReadAllBytes(Path.Combine(folder, "tokenizer_config.json"));
            byte[] special = File.ReadAllBytes(Path.Combine(folder, "special_tokens_map.json"));
            File.WriteAllBytes(Path.Combine(corpus, "tokenizer", "with-configs"),
                [.. tokenizerJson, .. Targets.FileSeparator, .. config, .. Targets.FileSeparator, .. special]);

            string templates = Path.Combine(fuzzDir, "templates");
            Directory.CreateDirectory(templates);
            string template = Path.Combine(templates, "model.zip");
            TrainTemplate(folder, template);
            Directory.CreateDirectory(Path.Combine(corpus, "zip"));
            using (var archive = ZipFile.OpenRead(template))
            {
                byte[] Entry(string suffix)
                {
                    using var s = archive.Entries.First(e => e.FullName.EndsWith(suffix, StringComparison.Ordinal)).Open();
                    var m = new MemoryStream();
                    s.CopyTo(m);
                    return m.ToArray();
                }
                File.WriteAllBytes(Path.Combine(corpus, "zip", "tiny-model"), ZipTarget.JoinInput(Entry("/Model.key"), Entry("HuggingFaceModel.bin")));
            }

            Directory.CreateDirectory(Path.Combine(corpus, "onnx"));
            File.WriteAllBytes(Path.Combine(corpus, "onnx", "tiny.onnx"), TinyOnnx(rawData: false));
            File.WriteAllBytes(Path.Combine(corpus, "onnx", "tiny-raw.onnx"), TinyOnnx(rawData: true));
        }
        finally { Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true); }
    }

    /// <summary>A tiny random Hugging Face BERT folder (hidden 4, one layer).</summary>
    private static string TinyFolder()
    {
        var config = new BertConfig
        {
            VocabSize = Vocab.Length, HiddenSize = 4, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 8,
            MaxPositionEmbeddings = 16, Architectures = ["BertModel"],
        };
        random.manual_seed(1);
        using var model = new BertModel(config);
        model.InitializeWeights();
        string folder = Path.Combine(Directory.CreateTempSubdirectory("mlnt-fuzz-seed-").FullName, "tiny");
        using var vocab = new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", Vocab)));
        var tokenizer = BertTextTokenizer.FromVocab(vocab, new BertTokenizerSettings(ModelMaxLength: 16));
        HuggingFaceFolder.Save(folder, config, model.state_dict(), tokenizer);
        return folder;
    }

    private sealed class Row
    {
        public string Text { get; set; } = "";
        public bool Label { get; set; }
    }

    /// <summary>Fine-tunes the tiny folder for one epoch on eight rows and saves the ML.NET zip.</summary>
    private static void TrainTemplate(string folder, string zip)
    {
        var ml = new MLContext(seed: 1);
        var rows = Enumerable.Range(0, 8).Select(i => new Row { Text = i % 2 == 0 ? "free money spam" : "hello world meeting", Label = i % 2 == 0 }).ToArray();
        var data = ml.Data.LoadFromEnumerable(rows);
        var options = new BertFineTuneOptions
        {
            Model = folder, Task = BertTask.BinaryClassification, Epochs = 1, BatchSize = 4, MaxSequenceLength = 8, ScoringBatchSize = 4,
            NumberOfThreads = 1, Seed = 1,
        };
        using var model = ml.BinaryClassification.Trainers.BertFineTune(options).Fit(data);
        ml.Model.Save(model, data.Schema, zip);
    }

    private static JsonObject TokenizerJson()
    {
        var vocab = new JsonObject();
        for (int i = 0; i < Vocab.Length; i++) vocab[Vocab[i]] = i;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 0, ["content"] = "[PAD]", ["special"] = true },
                new JsonObject { ["id"] = 1, ["content"] = "[UNK]", ["special"] = true },
                new JsonObject { ["id"] = Vocab.Length, ["content"] = "<extra>", ["special"] = false }),
            ["normalizer"] = new JsonObject { ["type"] = "BertNormalizer", ["clean_text"] = true, ["handle_chinese_chars"] = true, ["strip_accents"] = null, ["lowercase"] = true },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece", ["unk_token"] = "[UNK]", ["continuing_subword_prefix"] = "##", ["max_input_chars_per_word"] = 100, ["vocab"] = vocab,
            },
        };
    }

    /// <summary>
    /// A tiny graph laid out as torch.onnx exports BERT: LayerNorm weights, embeddings and biases under their Hugging
    /// Face names, each Linear weight as a numbered [in, out] MatMul initializer feeding an Add with its named bias.
    /// </summary>
    private static byte[] TinyOnnx(bool rawData)
    {
        var config = OnnxConfig();
        var graph = new GraphProto { Name = "tiny-bert" };
        var random = new Random(1);
        int matmuls = 0;
        string previous = "embeddings_output";

        void Init(string name, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
            t.Dims.AddRange(dims);
            long count = dims.Aggregate(1L, (a, b) => a * b);
            var values = Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            if (rawData) t.RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray());
            else t.FloatData.AddRange(values);
            graph.Initializer.Add(t);
        }

        void Linear(string module, long inFeatures, long outFeatures)
        {
            string weight = $"onnx::MatMul_{100 + matmuls++}";
            Init(weight, inFeatures, outFeatures);
            Init(module + ".bias", outFeatures);
            var product = new NodeProto { OpType = "MatMul", Name = $"/{module}/MatMul" };
            product.Input.Add(previous);
            product.Input.Add(weight);
            product.Output.Add($"/{module}/MatMul_output_0");
            var add = new NodeProto { OpType = "Add", Name = $"/{module}/Add" };
            add.Input.Add(module + ".bias");
            add.Input.Add($"/{module}/MatMul_output_0");
            add.Output.Add($"/{module}/Add_output_0");
            graph.Node.Add(product);
            graph.Node.Add(add);
            previous = $"/{module}/Add_output_0";
        }

        long h = config.HiddenSize;
        Init("embeddings.word_embeddings.weight", config.VocabSize, h);
        Init("embeddings.position_embeddings.weight", config.MaxPositionEmbeddings, h);
        Init("embeddings.token_type_embeddings.weight", config.TypeVocabSize, h);
        Init("embeddings.LayerNorm.weight", h);
        Init("embeddings.LayerNorm.bias", h);
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            string layer = $"encoder.layer.{i}.";
            Linear(layer + "attention.self.query", h, h);
            Linear(layer + "attention.self.key", h, h);
            Linear(layer + "attention.self.value", h, h);
            Linear(layer + "attention.output.dense", h, h);
            Init(layer + "attention.output.LayerNorm.weight", h);
            Init(layer + "attention.output.LayerNorm.bias", h);
            Linear(layer + "intermediate.dense", h, config.IntermediateSize);
            Linear(layer + "output.dense", config.IntermediateSize, h);
            Init(layer + "output.LayerNorm.weight", h);
            Init(layer + "output.LayerNorm.bias", h);
        }
        var model = new ModelProto { IrVersion = 8, ProducerName = "pytorch", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 14 });
        return model.ToByteArray();
    }
}
