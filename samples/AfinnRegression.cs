// Regression as a .NET 10 file-based app: fine-tune the embedded all-MiniLM-L6-v2 to predict the AFINN-111 valence
// (-5 very negative .. +5 very positive) of English words it has never seen in training.
//   dotnet run samples/AfinnRegression.cs
// It trains on 600 words of samples/data/afinn/train.tsv, reports RMSE and R² on the 496 test words against the
// "always predict the training mean" baseline, saves the model zip, loads it back and scores a few words that AFINN does not list.
//
// How the directives below work inside this repository (checked with the .NET SDK 10.0.401):
// - #:project builds the library from source, so the sample always runs the code next to it.
// - The repository's Directory.Build.props/targets and Directory.Packages.props apply to this file as to any project
//   under the repo: versions are central, so a #:package line must NOT carry a version (NU1008), and the TorchSharp
//   backend comes from Directory.Build.targets through UsesTorchBackend (TorchSharp-cpu by default).
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

string dataFolder = Path.Combine(SourceFolder(), "data", "afinn");
var ml = new MLContext(seed: 1);
var train = ml.Data.TakeRows(ml.Data.LoadFromTextFile<ScoredWord>(Path.Combine(dataFolder, "train.tsv"), separatorChar: '\t', hasHeader: true, allowQuoting: false), 600);
var test = ml.Data.LoadFromTextFile<ScoredWord>(Path.Combine(dataFolder, "test.tsv"), separatorChar: '\t', hasHeader: true, allowQuoting: false);

var options = new BertFineTuneOptions
{
    Model = "all-MiniLM-L6-v2",
    LabelColumnName = nameof(ScoredWord.Valence),
    TextColumnName = nameof(ScoredWord.Word),
    MaxSequenceLength = 8,        // one word is a handful of word pieces
    BatchSize = 16,
    Epochs = 3,
    LearningRate = 3e-4f,
    Seed = 1,
    Progress = new Progress<TrainingProgress>(p =>
    {
        if (p.Step % 20 == 0 || p.Step == p.TotalSteps)
            Console.WriteLine($"  epoch {p.Epoch}  step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  {p.ExamplesPerSecond:F1} examples/s");
    }),
};
Console.WriteLine("Fine-tuning all-MiniLM-L6-v2 to predict the AFINN valence of 600 words (3 epochs).");
var clock = Stopwatch.StartNew();
var model = ml.Regression.Trainers.BertFineTune(options).Fit(train);
Console.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F0} s.");

var metrics = ml.Regression.Evaluate(model.Transform(test), labelColumnName: nameof(ScoredWord.Valence));
float trainMean = ml.Data.CreateEnumerable<ScoredWord>(train, reuseRowObject: false).Average(w => w.Valence);
double baselineRmse = Math.Sqrt(ml.Data.CreateEnumerable<ScoredWord>(test, reuseRowObject: false).Average(w => Math.Pow(w.Valence - trainMean, 2)));
Console.WriteLine($"Test on unseen words: RMSE {metrics.RootMeanSquaredError:F3}  MAE {metrics.MeanAbsoluteError:F3}  R² {metrics.RSquared:F3}");
Console.WriteLine($"Baseline (always {trainMean:F2}, the training mean): RMSE {baselineRmse:F3}");

string zipPath = Path.Combine(Directory.CreateTempSubdirectory("mlnettuning-afinn").FullName, "afinn-model.zip");
// The zip's input schema is the Word column alone: the label is not needed to score.
ml.Model.Save(model, ml.Data.LoadFromEnumerable(Array.Empty<WordOnly>()).Schema, zipPath);
var loaded = ml.Model.Load(zipPath, out _);
using var engine = ml.Model.CreatePredictionEngine<WordOnly, ValencePrediction>(loaded);
// None of these words is in AFINN-111 at all.
foreach (var word in new[] { "magnificent", "delightful", "table", "atrocious", "nightmare" })
    Console.WriteLine($"  {word,-12} {engine.Predict(new WordOnly { Word = word }).Score,6:F2}");
File.Delete(zipPath);

static string SourceFolder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

/// <summary>One row of samples/data/afinn/*.tsv.</summary>
internal sealed class ScoredWord
{
    [LoadColumn(0)] public string Word { get; set; } = "";
    [LoadColumn(1)] public float Valence { get; set; }
}

internal sealed class WordOnly
{
    public string Word { get; set; } = "";
}

internal sealed class ValencePrediction
{
    public float Score { get; set; }
}
