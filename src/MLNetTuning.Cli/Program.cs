using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning;

// The main job: fine-tune the embedded all-MiniLM-L6-v2 on the bundled SpamAssassin sample, evaluate it on the test split,
// save model.zip, load it back and predict. Small defaults keep it to a few minutes on 2 CPU cores.
//   dotnet run --project src/MLNetTuning.Cli [-- --train N --test N --epochs N --max-length N --out model.zip --baseline --report-test-per-epoch]
var settings = Settings.Parse(args);
string dataFolder = Settings.FindData();
var ml = new MLContext(seed: 1);
ml.Log += (_, e) =>
{
    if (e.Kind == Microsoft.ML.Runtime.ChannelMessageKind.Info && e.Source.StartsWith("BertFineTune", StringComparison.Ordinal))
        Console.WriteLine($"  {e.Message}");
};

var loader = ml.Data.CreateTextLoader<Email>(separatorChar: '\t', hasHeader: true, allowQuoting: false);
// The sample's label is the string spam/ham; binary classification wants a bool column.
var withFlag = ml.Transforms.CustomMapping<Email, SpamFlag>((email, flag) => flag.IsSpam = email.Label == "spam", contractName: null);
var rawTrain = ml.Data.TakeRows(ml.Data.ShuffleRows(loader.Load(Path.Combine(dataFolder, "train.tsv")), seed: 1), settings.Train);
var flagger = withFlag.Fit(rawTrain);
var train = flagger.Transform(rawTrain);
var test = flagger.Transform(ml.Data.TakeRows(loader.Load(Path.Combine(dataFolder, "test.tsv")), settings.Test));
Console.WriteLine($"Fine-tuning all-MiniLM-L6-v2 on {settings.Train} SpamAssassin e-mails ({settings.Epochs} epoch(s), max {settings.MaxLength} tokens); testing on {settings.Test}.");

if (settings.Baseline)
{
    // The classic ML.NET pipeline on the same split: is fine-tuning worth it here?
    var classic = ml.Transforms.Text.FeaturizeText("Features", "Text")
        .Append(ml.BinaryClassification.Trainers.SdcaLogisticRegression("IsSpam", "Features"));
    var baselineClock = Stopwatch.StartNew();
    var baseline = ml.BinaryClassification.Evaluate(classic.Fit(train).Transform(test), labelColumnName: "IsSpam");
    Console.WriteLine($"Classic FeaturizeText + SdcaLogisticRegression ({baselineClock.Elapsed.TotalSeconds:F0} s): accuracy {baseline.Accuracy:F4}  AUC {baseline.AreaUnderRocCurve:F4}  F1 {baseline.F1Score:F4}");
}

var options = new BertFineTuneOptions
{
    Task = BertTask.BinaryClassification,
    Model = "all-MiniLM-L6-v2",
    LabelColumnName = "IsSpam",
    TextColumnName = "Text",
    MaxSequenceLength = settings.MaxLength,
    Epochs = settings.Epochs,
    BatchSize = 8,
    // MiniLM is small: a higher rate than BERT-base's usual 2e-5..5e-5 converges within one short epoch.
    LearningRate = 2e-4f,
    // --report-test-per-epoch evaluates the test split after every epoch for the report only: no model selection on it.
    ValidationSet = settings.ReportTestPerEpoch ? test : null,
    RestoreBestModel = false,
    Progress = new Progress<TrainingProgress>(p =>
    {
        if (p.Metrics is null && (p.Step % 10 == 0 || p.Step == p.TotalSteps))
            Console.WriteLine($"  step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E1}  {p.ExamplesPerSecond:F1} examples/s  eta {p.Eta:mm\\:ss}");
        else if (p.Metrics is not null)
            Console.WriteLine($"  epoch {p.Epoch} on the test split: " + string.Join("  ", p.Metrics.Select(m => $"{m.Key} {m.Value:F4}")));
    }),
};
var pipeline = ml.BinaryClassification.Trainers.BertFineTune(options);

var clock = Stopwatch.StartNew();
var model = pipeline.Fit(train);
Console.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F0} s; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1e9:F2} GB.");

var metrics = ml.BinaryClassification.Evaluate(model.Transform(test), labelColumnName: "IsSpam");
Console.WriteLine($"Test: accuracy {metrics.Accuracy:F4}  AUC {metrics.AreaUnderRocCurve:F4}  F1 {metrics.F1Score:F4}  log-loss {metrics.LogLoss:F4}");
Console.WriteLine(metrics.ConfusionMatrix.GetFormattedConfusionTable());

// The saved model scores text alone: its input schema is just the Text column.
ml.Model.Save(model, ml.Data.LoadFromEnumerable(Array.Empty<TextOnly>()).Schema, settings.Output);
Console.WriteLine($"Saved {settings.Output} ({new FileInfo(settings.Output).Length / 1e6:F1} MB).");

var loaded = ml.Model.Load(settings.Output, out _);
var engine = ml.Model.CreatePredictionEngine<TextOnly, SpamPrediction>(loaded);
foreach (var text in new[] { "Subject: Meeting moved to 3pm. Let's review the build failures then.", "Subject: YOU HAVE WON $1,000,000!!! Click here to claim your prize now" })
{
    var p = engine.Predict(new TextOnly { Text = text });
    Console.WriteLine($"  {(p.PredictedLabel ? "spam" : "ham ")} {p.Probability:F3}  {text}");
}

internal sealed class Email
{
    [LoadColumn(0)] public string Label { get; set; } = "";
    [LoadColumn(1)] public string Group { get; set; } = "";
    [LoadColumn(2)] public string Text { get; set; } = "";
}

internal sealed class SpamFlag
{
    public bool IsSpam { get; set; }
}

internal sealed class TextOnly
{
    public string Text { get; set; } = "";
}

internal sealed class SpamPrediction
{
    public bool PredictedLabel { get; set; }
    public float Probability { get; set; }
    public float Score { get; set; }
}

internal sealed record Settings(int Train, int Test, int Epochs, int MaxLength, string Output, bool Baseline = false, bool ReportTestPerEpoch = false)
{
    public static Settings Parse(string[] args)
    {
        var settings = new Settings(Train: 600, Test: 300, Epochs: 1, MaxLength: 128, Output: "model.zip");
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"Option {args[i]} needs a value.");
            int Number() => int.TryParse(Value(), out int n) && n > 0 ? n : throw new ArgumentException($"Option {args[i - 1]} needs a positive integer.");
            settings = args[i] switch
            {
                "--train" => settings with { Train = Number() },
                "--test" => settings with { Test = Number() },
                "--epochs" => settings with { Epochs = Number() },
                "--max-length" => settings with { MaxLength = Number() },
                "--out" => settings with { Output = Value() },
                "--baseline" => settings with { Baseline = true },
                "--report-test-per-epoch" => settings with { ReportTestPerEpoch = true },
                _ => throw new ArgumentException($"Unknown option '{args[i]}'. Options: --train N, --test N, --epochs N, --max-length N, --out FILE, --baseline, --report-test-per-epoch."),
            };
        }
        return settings;
    }

    /// <summary>The bundled sample, found from the working folder or the app folder upwards.</summary>
    public static string FindData()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "samples", "data", "spam");
                if (File.Exists(Path.Combine(candidate, "train.tsv"))) return candidate;
            }
        throw new FileNotFoundException("The bundled sample samples/data/spam/train.tsv was not found; run from the repository.");
    }
}
