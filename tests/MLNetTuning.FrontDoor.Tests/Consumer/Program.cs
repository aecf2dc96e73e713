// A NuGet user's first program: make a tiny random BERT as a Hugging Face folder (config.json, vocab.txt,
// model.safetensors written here with nothing but the BCL), fine-tune it through the public API, save the ML.NET
// model zip, load it back and predict; then embed two texts with the embedded all-MiniLM-L6-v2 (which comes with the
// package's dependencies). Every check prints "OK <what>"; any failure throws and exits non-zero.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning;

string work = Directory.CreateTempSubdirectory("mlnt-consumer-run").FullName;
string[] vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "free", "money", "win", "prize", "cash", "now", "click",
    "meeting", "project", "lunch", "report", "review", "team", "code", "tomorrow"];
string folder = TinyBertFolder.Write(Path.Combine(work, "tiny-bert"), vocab, hidden: 32, layers: 2, heads: 4, intermediate: 64, positions: 32);
Console.WriteLine($"OK wrote a tiny Hugging Face folder {folder}");

var ml = new MLContext(seed: 1);
var rows = new List<Row>();
string[] spammy = ["free money now", "win cash prize", "click now win", "free prize money", "cash now click", "win free cash"];
string[] work1 = ["project meeting tomorrow", "lunch with team", "review code report", "team meeting report", "code review tomorrow", "project lunch"];
for (int repeat = 0; repeat < 4; repeat++)
{
    rows.AddRange(spammy.Select(t => new Row { Label = "spam", Text = t }));
    rows.AddRange(work1.Select(t => new Row { Label = "work", Text = t }));
}
var train = ml.Data.LoadFromEnumerable(rows);

var options = new BertFineTuneOptions
{
    Model = folder,
    MaxSequenceLength = 16,
    BatchSize = 8,
    Epochs = 8,
    LearningRate = 5e-3f,             // a tiny random model wants a far higher rate than a pretrained one
    Seed = 1,
    NumberOfThreads = 1,              // a 32-wide model gains nothing from more threads on a busy machine
};
var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(ml.MulticlassClassification.Trainers.BertFineTune(options))
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedClass", "PredictedLabel"));
var model = pipeline.Fit(train);
var history = model.OfType<BertFineTuneTransformer>().Single().History;
float firstLoss = history.Steps.Take(3).Average(s => s.Loss), lastLoss = history.Steps.TakeLast(3).Average(s => s.Loss);
Console.WriteLine($"Loss {firstLoss:F4} -> {lastLoss:F4} over {history.Steps.Count} steps");
if (!(lastLoss < firstLoss * 0.5f)) throw new InvalidOperationException($"Training did not learn: loss {firstLoss} -> {lastLoss}.");
Console.WriteLine("OK fine-tuned");

var metrics = ml.MulticlassClassification.Evaluate(model.Transform(train));
Console.WriteLine($"Training accuracy {metrics.MicroAccuracy:F4}");
if (metrics.MicroAccuracy < 0.9) throw new InvalidOperationException($"Training accuracy {metrics.MicroAccuracy} is below 0.9 on separable data.");
Console.WriteLine("OK evaluated");

string zip = Path.Combine(work, "model.zip");
ml.Model.Save(model, train.Schema, zip);
var loaded = ml.Model.Load(zip, out _);
string[] probes = ["win free money", "team project review"];
var before = Predict(model, probes);
var after = Predict(loaded, probes);
for (int i = 0; i < probes.Length; i++)
{
    Console.WriteLine($"'{probes[i]}' -> {after[i].PredictedClass} {after[i].Score.Max():F4}");
    if (before[i].PredictedClass != after[i].PredictedClass || !before[i].Score.SequenceEqual(after[i].Score))
        throw new InvalidOperationException($"The reloaded model scores '{probes[i]}' differently: [{string.Join(", ", before[i].Score)}] vs [{string.Join(", ", after[i].Score)}].");
}
if (after[0].PredictedClass != "spam" || after[1].PredictedClass != "work")
    throw new InvalidOperationException($"Unexpected predictions: {after[0].PredictedClass}, {after[1].PredictedClass}.");
Console.WriteLine("OK saved, reloaded and predicted identically");

var texts = ml.Data.LoadFromEnumerable(new[] { new Row { Text = "A cat sits on the mat." }, new Row { Text = "Quarterly revenue grew." } });
using var embedder = ml.Transforms.Text.BertEmbeddings("Embedding", "Text", maxSequenceLength: 32).Fit(texts);
var vectors = embedder.Transform(texts).GetColumn<float[]>("Embedding").ToArray();
double norm = Math.Sqrt(vectors[0].Sum(v => (double)v * v));
Console.WriteLine($"Embedding dimension {vectors[0].Length}, norm {norm:F4}");
if (vectors[0].Length != 384 || Math.Abs(norm - 1) > 1e-3) throw new InvalidOperationException("The MiniLM embedding is not a unit vector of 384 values.");
Console.WriteLine("OK embedded with all-MiniLM-L6-v2");
Directory.Delete(work, recursive: true);
Console.WriteLine("CONSUMER DONE");

Prediction[] Predict(ITransformer transformer, string[] texts)
{
    using var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(transformer, new PredictionEngineOptions { OwnsTransformer = false });
    return texts.Select(t => engine.Predict(new Row { Text = t })).ToArray();
}

internal sealed class Row
{
    public string Label { get; set; } = "";
    public string Text { get; set; } = "";
}

internal sealed class Prediction
{
    public string PredictedClass { get; set; } = "";
    public float[] Score { get; set; } = [];
}

/// <summary>A random BERT in the layout Hugging Face's BertModel.save_pretrained writes, with no ML library at all.</summary>
internal static class TinyBertFolder
{
    public static string Write(string folder, string[] vocab, int hidden, int layers, int heads, int intermediate, int positions)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "vocab.txt"), string.Join("\n", vocab) + "\n");
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model_type"] = "bert", ["architectures"] = new[] { "BertModel" }, ["vocab_size"] = vocab.Length,
            ["hidden_size"] = hidden, ["num_hidden_layers"] = layers, ["num_attention_heads"] = heads,
            ["intermediate_size"] = intermediate, ["max_position_embeddings"] = positions, ["type_vocab_size"] = 2,
            ["hidden_act"] = "gelu", ["layer_norm_eps"] = 1e-12, ["pad_token_id"] = 0,
        }));

        var random = new Random(7);
        var tensors = new List<(string Name, int[] Shape, float[] Values)>();
        void Normal(string name, params int[] shape) => tensors.Add((name, shape, Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b))
            .Select(_ => (float)(0.02 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray()));
        void Fill(string name, int size, float value) => tensors.Add((name, [size], Enumerable.Repeat(value, size).ToArray()));
        void Linear(string name, int outFeatures, int inFeatures) { Normal(name + ".weight", outFeatures, inFeatures); Fill(name + ".bias", outFeatures, 0f); }
        void LayerNorm(string name) { Fill(name + ".weight", hidden, 1f); Fill(name + ".bias", hidden, 0f); }

        Normal("embeddings.word_embeddings.weight", vocab.Length, hidden);
        Normal("embeddings.position_embeddings.weight", positions, hidden);
        Normal("embeddings.token_type_embeddings.weight", 2, hidden);
        LayerNorm("embeddings.LayerNorm");
        for (int i = 0; i < layers; i++)
        {
            string layer = $"encoder.layer.{i}.";
            foreach (var projection in new[] { "query", "key", "value" }) Linear(layer + "attention.self." + projection, hidden, hidden);
            Linear(layer + "attention.output.dense", hidden, hidden);
            LayerNorm(layer + "attention.output.LayerNorm");
            Linear(layer + "intermediate.dense", intermediate, hidden);
            Linear(layer + "output.dense", hidden, intermediate);
            LayerNorm(layer + "output.LayerNorm");
        }
        Linear("pooler.dense", hidden, hidden);
        WriteSafeTensors(Path.Combine(folder, "model.safetensors"), tensors);
        return folder;
    }

    /// <summary>safetensors: an 8-byte little-endian header length, a JSON header of names, dtypes, shapes and byte ranges, then the raw data.</summary>
    private static void WriteSafeTensors(string path, List<(string Name, int[] Shape, float[] Values)> tensors)
    {
        var header = new Dictionary<string, object> { ["__metadata__"] = new Dictionary<string, string> { ["format"] = "pt" } };
        long offset = 0;
        foreach (var (name, shape, values) in tensors)
        {
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + values.Length * 4L } };
            offset += values.Length * 4L;
        }
        byte[] json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        int padded = (json.Length + 7) / 8 * 8;
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(json);
        for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
        Span<byte> bytes = stackalloc byte[4];
        foreach (var (_, _, values) in tensors)
            foreach (float value in values)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
                stream.Write(bytes);
            }
    }
}
