// Quick start as a .NET 10 file-based app (the successor of notebooks/01-quick-start.ipynb):
//   dotnet run samples/QuickStart.cs
// It fine-tunes the embedded all-MiniLM-L6-v2 on 200 e-mails of the bundled SpamAssassin sample (multiclass: spam/ham
// through MapValueToKey), evaluates on 200 test e-mails with ML.NET's evaluator, saves the model zip, loads it back and predicts.
//
// How the directives below work inside this repository (checked with the .NET SDK 10.0.401):
// - #:project builds the library from source, so the sample always runs the code next to it.
// - The repository's Directory.Build.props/targets and Directory.Packages.props apply to this file as to any project
//   under the repo: versions are central, so a #:package line must NOT carry a version (NU1008), and the TorchSharp
//   backend comes from Directory.Build.targets through UsesTorchBackend (TorchSharp-cpu by default, cuda with
//   -p:TorchBackend=cuda), exactly as for the repo's apps and tests.
// - File-based apps default to PublishAot=true, which also switches off dynamic code and reflection-based JSON under
//   `dotnet run`; ML.NET needs both (it emits code for its row mappers), hence PublishAot=false.
// - Outside this repository (a copy of this file on its own) use a packed MLNetTuning instead:
//   #:package MLNetTuning@0.1.0 and #:package TorchSharp-cpu@0.107.0 (with PublishAot=false as here; not run by CI).
#:project ../src/MLNetTuning/MLNetTuning.csproj
#:property UsesTorchBackend=true
#:property PublishAot=false

using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning;

string dataFolder = Path.Combine(SourceFolder(), "data", "spam");
var ml = new MLContext(seed: 1);
IDataView Load(string file, int rows) => ml.Data.TakeRows(
    ml.Data.LoadFromTextFile<Email>(Path.Combine(dataFolder, file), separatorChar: '\t', hasHeader: true, allowQuoting: false), rows);
// The files are in a fixed shuffled order, so the first rows already mix both classes.
var train = Load("train.tsv", 200);
var test = Load("test.tsv", 200);

var options = new BertFineTuneOptions
{
    Model = "all-MiniLM-L6-v2",   // embedded: nothing is downloaded
    LabelColumnName = "Label",
    TextColumnName = "Text",
    MaxSequenceLength = 64,
    BatchSize = 8,
    Epochs = 1,
    LearningRate = 2e-4f,         // MiniLM is small: a higher rate than BERT-base's usual 2e-5..5e-5
    Seed = 1,
    Progress = new Progress<TrainingProgress>(p =>
    {
        if (p.Step % 5 == 0 || p.Step == p.TotalSteps)
            Console.WriteLine($"  step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  {p.ExamplesPerSecond:F1} examples/s  eta {p.Eta:mm\\:ss}");
    }),
};
var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
    .Append(new BertFineTuneEstimator(ml, options))
    // A readable class name beside the key PredictedLabel that Evaluate needs.
    .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedClass", "PredictedLabel"));

Console.WriteLine("Fine-tuning all-MiniLM-L6-v2 on 200 SpamAssassin e-mails (1 epoch, 64 tokens).");
var clock = Stopwatch.StartNew();
var model = pipeline.Fit(train);
Console.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F0} s.");

var metrics = ml.MulticlassClassification.Evaluate(model.Transform(test));
Console.WriteLine($"Test on 200 e-mails: accuracy {metrics.MicroAccuracy:F4}  macro accuracy {metrics.MacroAccuracy:F4}  log-loss {metrics.LogLoss:F4}");
Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());

string zipPath = Path.Combine(Directory.CreateTempSubdirectory("mlnettuning-quickstart").FullName, "spam-model.zip");
ml.Model.Save(model, train.Schema, zipPath);
Console.WriteLine($"Saved {zipPath} ({new FileInfo(zipPath).Length / 1e6:F1} MB).");

// A fresh ML.NET load of the zip: weights, config, tokenizer and class names all come from inside it.
var loaded = ml.Model.Load(zipPath, out _);
using var engine = ml.Model.CreatePredictionEngine<Email, SpamPrediction>(loaded);
foreach (var text in new[] { "Subject: Meeting moved to 3pm. Let's review the build failures then.", "Subject: YOU HAVE WON $1,000,000!!! Click here to claim your prize now" })
{
    var prediction = engine.Predict(new Email { Text = text });
    Console.WriteLine($"  predicted {prediction.PredictedClass,-4} ({prediction.Score.Max():F3})  {text}");
}
File.Delete(zipPath);

static string SourceFolder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

/// <summary>One row of samples/data/spam/*.tsv; Label is "spam" or "ham".</summary>
internal sealed class Email
{
    [LoadColumn(0)] public string Label { get; set; } = "";
    [LoadColumn(1)] public string Group { get; set; } = "";
    [LoadColumn(2)] public string Text { get; set; } = "";
}

internal sealed class SpamPrediction
{
    public string PredictedClass { get; set; } = "";
    public float[] Score { get; set; } = [];
}
