// Token classification (named entities) as a .NET 10 file-based app:
//   dotnet run samples/TokenClassification.cs
// It fine-tunes the embedded all-MiniLM-L6-v2 to tag every word with IOB2 entity tags (PER, ORG, LOC) on 600 sentences of
// the bundled Universal NER English-EWT sample, scores the 500 test sentences by entity with EvaluateEntities, and tags a
// new sentence through a PredictionEngine. The directives are those of QuickStart.cs (see its header for why).
#:project ../src/MLNetTuning/MLNetTuning.csproj
#:property UsesTorchBackend=true
#:property PublishAot=false

using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.ML;
using MLNetTuning;

string dataFolder = Path.Combine(SourceFolder(), "data", "ner-ewt");
var ml = new MLContext(seed: 1);
// A plain string[] property loads as a variable-length vector of text: one word (or tag) per slot.
var train = ml.Data.LoadFromEnumerable(ReadConll(Path.Combine(dataFolder, "train.conll")).Take(600));
var test = ml.Data.LoadFromEnumerable(ReadConll(Path.Combine(dataFolder, "test.conll")));

var options = new BertFineTuneOptions
{
    Model = "all-MiniLM-L6-v2",   // embedded: nothing is downloaded
    TextColumnName = "Words",     // the words, one per slot
    LabelColumnName = "Tags",     // one key per word
    MaxSequenceLength = 64,       // longer sentences are cut into overlapping windows (WindowStride), never truncated
    BatchSize = 16,
    Epochs = 3,
    LearningRate = 2e-4f,         // MiniLM is small: a higher rate than BERT-base's usual 2e-5..5e-5
    Seed = 1,
    Progress = new Progress<TrainingProgress>(p =>
    {
        if (p.Metrics is null && (p.Step % 20 == 0 || p.Step == p.TotalSteps))
            Console.WriteLine($"  epoch {p.Epoch}  step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  {p.ExamplesPerSecond:F1} examples/s");
    }),
};
var pipeline = ml.Transforms.Conversion.MapValueToKey("Tags")
    .Append(ml.MulticlassClassification.Trainers.BertTokenClassification(options))
    // PredictedLabel is a vector of keys, one per word; MapKeyToValue gives the tag names.
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedTags", "PredictedLabel"));

Console.WriteLine("Fine-tuning all-MiniLM-L6-v2 to tag entities on 600 English-EWT sentences (3 epochs, 64 tokens).");
var clock = Stopwatch.StartNew();
var model = pipeline.Fit(train);
Console.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F0} s.");

var metrics = ml.MulticlassClassification.EvaluateEntities(model.Transform(test), "Tags", "PredictedLabel");
Console.WriteLine($"Test on 500 sentences: entity precision {metrics.Precision:F4}  recall {metrics.Recall:F4}  F1 {metrics.F1:F4}  token accuracy {metrics.TokenAccuracy:F4}");
Console.WriteLine($"  {"type",-5} {"precision",9} {"recall",7} {"F1",7} {"support",8}");
foreach (var (type, m) in metrics.PerEntityType)
    Console.WriteLine($"  {type,-5} {m.Precision,9:F4} {m.Recall,7:F4} {m.F1,7:F4} {m.Support,8}");

// The pipeline starts with MapValueToKey("Tags"), so the input needs a Tags column: an empty array will do.
using var engine = ml.Model.CreatePredictionEngine<Sentence, TaggedSentence>(model);
var words = "Satya Nadella met Angela Merkel at the Microsoft office in Berlin on Tuesday .".Split(' ');
var tagged = engine.Predict(new Sentence { Words = words });
Console.WriteLine("Tagged: " + string.Join(" ", words.Zip(tagged.PredictedTags, (w, t) => t == "O" ? w : $"{w}/{t}")));

static IEnumerable<Sentence> ReadConll(string path)
{
    // `#` comment lines, `ID<TAB>word<TAB>tag` per word, a blank line between sentences.
    List<string> words = [], tags = [];
    foreach (var line in File.ReadLines(path).Append(""))
    {
        if (line.StartsWith('#')) continue;
        if (line.Length == 0)
        {
            if (words.Count > 0) yield return new Sentence { Words = [.. words], Tags = [.. tags] };
            words.Clear(); tags.Clear();
            continue;
        }
        var fields = line.Split('\t');
        words.Add(fields[1]);
        tags.Add(fields[2]);
    }
}

static string SourceFolder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

/// <summary>One sentence: its words and their IOB2 tags (B-PER, I-PER, O, ...).</summary>
internal sealed class Sentence
{
    public string[] Words { get; set; } = [];
    public string[] Tags { get; set; } = [];
}

internal sealed class TaggedSentence
{
    public string[] PredictedTags { get; set; } = [];
    public float[] Score { get; set; } = [];
}
