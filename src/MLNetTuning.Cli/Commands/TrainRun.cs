using MLNetTuning.IO;
using MLNetTuning.Native;
using System.CommandLine;
using System.Diagnostics;
using Microsoft.ML;
using MLNetTuning.Cli.Data;
using MLNetTuning.Cli.Modeling;
using MLNetTuning.Cli.Reports;
using Spectre.Console;

namespace MLNetTuning.Cli.Commands;

/// <summary>One `train` run: read and split the data, fine-tune with live progress, test, then write the model and the report.</summary>
internal sealed partial class TrainRun(CliHost host, TrainCommand symbols, ParseResult result)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public int Execute()
    {
        string? dataArgument = result.GetValue(symbols.Data);
        var preset = dataArgument is null ? TrainPreset.SpamSample() : TrainPreset.ForFile(dataArgument);
        var options = preset.Options;
        symbols.Training.ApplyTo(result, options);
        int seed = options.Seed ?? 1;
        options.Seed = seed;
        var task = result.GetValue(symbols.Task) is { } taskName ? ParseTask(taskName) : preset.Task;
        options.Task = task;
        options.Model = result.GetValue(symbols.Model) ?? options.Model;
        var columns = new ColumnNames(result.GetValue(symbols.TextColumn) ?? "Text", result.GetValue(symbols.SecondTextColumn), result.GetValue(symbols.LabelColumn) ?? "Label");
        string? validationPath = result.GetValue(symbols.Validation);
        int? validationRows = result.GetValue(symbols.ValidationRows) ?? (validationPath is null && result.GetValue(symbols.ValidationFraction) is null ? preset.ValidationRows : null);
        float? validationFraction = result.GetValue(symbols.ValidationFraction);
        if (new object?[] { validationPath, validationRows, validationFraction }.Count(v => v is not null) > 1)
            throw new UsageException("Give at most one of --validation, --validation-rows and --validation-fraction.");
        int? trainRows = result.GetValue(symbols.TrainRows) ?? preset.TrainRows;
        string? testPath = result.GetValue(symbols.Test) ?? preset.TestPath;
        int? testRows = result.GetValue(symbols.TestRows) ?? (result.GetValue(symbols.Test) is null ? preset.TestRows : null);
        foreach (var (flag, value) in new[] { ("--train-rows", trainRows), ("--test-rows", testRows) })
            if (value is < 1) throw new UsageException($"{flag} is {value}; it must be at least 1.");
        if (validationRows is < 0) throw new UsageException($"--validation-rows is {validationRows}; it must be at least 0 (0: no validation rows).");
        if (validationRows == 0) validationRows = null;
        if (validationFraction is < 0 or >= 1) throw new UsageException($"--validation-fraction is {validationFraction}; it must be at least 0 and less than 1 (0: no validation rows).");
        if (validationFraction == 0) validationFraction = null;
        bool baseline = result.GetValue(symbols.Baseline);
        if (baseline && task is BertTask.QuestionAnswering or BertTask.MultiLabelClassification)
            throw new UsageException($"--baseline compares with a classic text classifier, and there is none for {TaskName(task)}. Leave out --baseline.");
        if (task == BertTask.QuestionAnswering)
        {
            if (dataArgument is null)
                throw new UsageException("--task question-answering needs a data file (SQuAD JSON or a TSV of questions), for example: " +
                    "mlnet-tune train samples/data/squad/train.json --task question-answering --test samples/data/squad/test.json");
            return ExecuteAnswers(dataArgument, options, new Split(trainRows, validationPath, validationRows, validationFraction, testPath, testRows));
        }
        char separator = LabelSeparatorOf(result.GetValue(symbols.LabelSeparator), task);
        if (task == BertTask.TokenClassification)
        {
            if (baseline) throw new UsageException("--baseline compares with a classic text classifier, and there is none for token classification. Leave out --baseline.");
            if (dataArgument is null)
                throw new UsageException("--task token-classification needs a data file of tagged sentences, for example: " +
                    "mlnet-tune train samples/data/ner-ewt/train.conll --task token-classification --test samples/data/ner-ewt/test.conll");
            if (result.GetValue(symbols.SecondTextColumn) is not null || result.GetValue(symbols.PositiveClass) is not null)
                throw new UsageException("--second-text-column and --positive-class do not apply to token classification: a sentence is one text with one tag per word. Leave them out.");
            return ExecuteTagged(dataArgument, options, new Split(trainRows, validationPath, validationRows, validationFraction, testPath, testRows));
        }
        // Checked before anything is read or trained: a comparison needs labelled rows that neither model trained on.
        if (baseline && testPath is null && validationPath is null && validationRows is null && validationFraction is null)
            throw new UsageException("--baseline compares the fine-tuned model and the baseline on held-out data, and there is none: give --test FILE " +
                "(or, to compare on the validation set, --validation FILE, --validation-rows N or --validation-fraction F).");

        // Data: a seeded sample of the training file, then the validation rows after it, so the two never overlap.
        var trainFile = DataFile.Read(preset.DataPath, dataArgument is null ? "the bundled sample" : "data");
        var all = Examples.Read(trainFile, columns, withLabel: true);
        if (trainRows is not null || validationRows is not null) all = Examples.Shuffled(all, seed);
        var train = all.Take(trainRows ?? all.Count - (validationRows ?? 0)).ToList();
        var sizes = new List<KeyValuePair<string, string>> { new("training", $"{train.Count} of {all.Count} rows of {trainFile.Path}") };
        if (train.Count == 0) throw new CliException($"The data file '{trainFile.Path}' has no rows to train on.");
        var scheme = LabelScheme.FromTraining(task, train.Select(e => e.Label), result.GetValue(symbols.PositiveClass) ?? preset.PositiveClass, columns.Label,
            $"'{trainFile.Path}'", separator);

        List<TextExample>? validation = null;
        string? validationSource = null;
        if (validationPath is not null)
        {
            var file = DataFile.Read(validationPath, "--validation");
            validation = Examples.Read(file, columns, withLabel: true);
            validationSource = $"'{file.Path}'";
            sizes.Add(new("validation", $"{validation.Count} rows of {file.Path}"));
        }
        else if (validationRows is int n)
        {
            validation = all.Skip(train.Count).Take(n).ToList();
            if (validation.Count < n) throw new UsageException($"--validation-rows {n}: the data file has only {all.Count} rows, {train.Count} of them for training. Lower --train-rows or --validation-rows.");
            validationSource = $"'{trainFile.Path}' (validation rows)";
            sizes.Add(new("validation", $"{validation.Count} further rows of {trainFile.Path}, disjoint from the training rows"));
        }
        else if (validationFraction is float fraction)
        {
            int before = train.Count;
            (train, validation) = Examples.HoldOut(train, fraction, task is not (BertTask.Regression or BertTask.MultiLabelClassification) ? e => e.Label : null, seed);
            if (train.Count == 0 || validation.Count == 0)
                throw new UsageException($"--validation-fraction {fraction}: of the {before} training rows, {train.Count} would be left for training and {validation.Count} for validation. " +
                    "Give more rows or another fraction.");
            validationSource = $"'{trainFile.Path}' (held-out rows)";
            sizes[0] = new("training", $"{train.Count} of {all.Count} rows of {trainFile.Path}, after holding out validation rows");
            sizes.Add(new("validation", $"{validation.Count} rows held out of the {before} training rows (--validation-fraction {fraction})" +
                (task is not (BertTask.Regression or BertTask.MultiLabelClassification) ? ", stratified by class" : "")));
        }

        List<TextExample>? test = null;
        string? testSource = null;
        if (testPath is not null)
        {
            var file = DataFile.Read(testPath, "--test");
            var rows = Examples.Read(file, columns, withLabel: true);
            test = testRows is int t ? Examples.Shuffled(rows, seed).Take(t).ToList() : rows;
            testSource = file.Path;
            sizes.Add(new("test", $"{test.Count} of {rows.Count} rows of {file.Path}"));
        }
        if (scheme.Task != BertTask.Regression)
            sizes.Add(new(scheme.Task == BertTask.MultiLabelClassification ? "training labels" : "training classes", string.Join(", ", scheme.ClassNames.Select(c =>
                $"{c} {train.Count(e => scheme.Task == BertTask.MultiLabelClassification ? LabelScheme.SplitLabels(e.Label, separator).Contains(c) : e.Label == c)}"))));

        var ml = new MLContext(seed);
        bool pair = columns.SecondText is not null;
        var trainView = ExampleViews.Labeled(ml, train, scheme, pair, $"'{trainFile.Path}'");
        options.TextColumnName = ExampleViews.TextColumn;
        options.SecondTextColumnName = pair ? ExampleViews.SecondTextColumn : null;
        options.LabelColumnName = ExampleViews.LabelColumn;
        // The validation labels are encoded with the training classes, so a class the training rows lack is named, not guessed.
        if (validation is not null) options.ValidationSet = ExampleViews.Labeled(ml, validation, scheme, pair, validationSource!);
        var testView = test is null ? null : ExampleViews.Labeled(ml, test, scheme, pair, $"'{testSource}'");
        options.CancellationToken = host.Cancellation;
        CheckOptions(ml, options);

        // The baseline first: it takes seconds, and a failure should not cost a fine-tuning run. It trains on trainView, the
        // very rows the fine-tuning gets (validation rows already taken out), and gets its own seeded context, so that
        // --baseline leaves the fine-tuned model exactly as it would be without it.
        (ITransformer Model, TimeSpan Time)? baselineFit = null;
        if (baseline)
        {
            host.Out.WriteLine($"Baseline: {Baseline.Describe(task, pair)} on the same {train.Count} training rows ...");
            baselineFit = Baseline.Fit(seed, trainView, task, pair, $"the {train.Count} training rows of '{trainFile.Path}'");
            host.Out.WriteLine($"Baseline trained in {baselineFit.Value.Time.TotalSeconds:F1} s.");
            host.Cancellation.ThrowIfCancellationRequested();
        }

        using var model = FineTune(ml, options, trainView, $"{train.Count} rows of {Path.GetFileName(trainFile.Path)}", validation?.Count, test?.Count);
        var history = model.History;
        var testResult = testView is null ? null : Evaluation.Evaluate(ml, model, testView, scheme, test!.Count);
        MemoryPhases.End("test");
        PrintTest(testResult, history, "rows");

        ModelComparison? comparison = null;
        if (baselineFit is { } fitted)
        {
            // Both models through the same ML.NET evaluator on the same rows: the test set, else the validation set (which the
            // fine-tuning watched, and with early stopping or RestoreBestModel also chose its weights by: the table says so).
            var (setName, source, view, rows) = testView is not null
                ? ("test set", $"'{testSource}'", testView, test!.Count)
                : ("validation set", validationSource!, options.ValidationSet!, validation!.Count);
            var fineTuned = testResult ?? Evaluation.Evaluate(ml, model, view, scheme, rows);
            var classic = Evaluation.Evaluate(ml, fitted.Model, view, scheme, rows);
            comparison = new ModelComparison(setName, source, rows,
            [
                new ComparisonRow($"{options.Model} fine-tuned", fineTuned.Metrics, history.TrainingTime),
                new ComparisonRow($"{Baseline.Describe(task, pair)} (baseline)", classic.Metrics, fitted.Time),
            ]);
            host.Out.Write(ConsoleTables.Comparison(comparison));
        }
        // The file's own class names (ham/spam), which the bool label of the model no longer carries.
        return SaveAndReport(ml, model, new ModelInfo(task, scheme.ClassNames, columns.Text, columns.SecondText, columns.Label, options.Model,
            LabelSeparator: task == BertTask.MultiLabelClassification ? separator.ToString() : null),
            options, sizes, testResult, testSource, comparison, scheme.Task == BertTask.BinaryClassification ? scheme.ClassNames : null);
    }

    /// <summary>Fine-tunes with live progress; <paramref name="trainDescription"/> says what the training data is, for the first line.</summary>
    private BertFineTuneTransformer FineTune(MLContext ml, BertFineTuneOptions options, IDataView trainView, string trainDescription, int? validationCount, int? testCount)
    {
        host.Out.MarkupLine(Markup.Escape($"Fine-tuning {options.Model} ({TaskName(options.Task)}) on {trainDescription}" +
            $"{(validationCount is null ? "" : $", validating on {validationCount}")}{(testCount is null ? "" : $", testing on {testCount}")}: " +
            $"{options.Epochs} epoch(s), batch {options.BatchSize}, learning rate {options.LearningRate:G3}, max {options.MaxSequenceLength} tokens."));
        // The library logs checkpoints, resuming and skipped steps to MLContext.Log; the console shows them as they happen.
        void ShowTrainingEvent(object? sender, LoggingEventArgs e)
        {
            if (TrainingEvents.Any(prefix => e.RawMessage.StartsWith(prefix, StringComparison.Ordinal))) host.Out.WriteLine("  " + e.RawMessage);
        }
        ml.Log += ShowTrainingEvent;
        BertFineTuneTransformer model;
        try
        {
            model = ProgressView.Run(host, progress =>
            {
                options.Progress = progress;
                return new BertFineTuneEstimator(ml, options).Fit(trainView);
            });
        }
        catch (OperationCanceledException e) when (options.CheckpointDirectory is { } folder && Directory.Exists(folder) &&
            Directory.GetDirectories(folder, "checkpoint-*").Order(StringComparer.Ordinal).LastOrDefault() is { } saved)
        {
            throw new CancelledWithCheckpointException($"cancelled; the newest checkpoint is '{saved}': run the same command with --resume to continue from it", e);
        }
        // Its message is complete; the library's own wording (property names) would only repeat it.
        catch (TrainingDivergedException e) { throw new CliException(symbols.Training.InFlags(e.Message)); }
        finally { ml.Log -= ShowTrainingEvent; }
        // Ctrl+C after the last step but before saving still means "keep nothing".
        if (host.Cancellation.IsCancellationRequested) model.Dispose();
        host.Cancellation.ThrowIfCancellationRequested();
        int skipped = model.History.NonFiniteSteps.Count;
        host.Out.WriteLine($"Trained in {model.History.TrainingTime.TotalSeconds:F0} s ({model.History.Steps.Count} steps{(skipped > 0 ? $", {skipped} of them skipped as non-finite" : "")}).");
        return model;
    }

    private static readonly string[] TrainingEvents = ["checkpoint at ", "resumed from ", "resuming with ", "no checkpoint in ", "skipping a damaged checkpoint", "resuming from the previous", "skipped epoch "];

    /// <summary>The test tables, or without a test set the best validation metrics; <paramref name="unit"/> is what the test set counts (rows, sentences).</summary>
    private void PrintTest(EvaluationResult? testResult, TrainingHistory history, string unit)
    {
        if (testResult is not null) ConsoleTables.Write(host.Out, $"Test ({testResult.Rows} {unit})", testResult);
        else if (history.Best is { } best)
            host.Out.Write(ConsoleTables.Metrics($"Validation, best (step {best.Step})", best.Metrics.ToList()));
    }

    /// <summary>Writes the model zip, the optional Hugging Face folder, the plots and report.md.</summary>
    private int SaveAndReport(MLContext ml, BertFineTuneTransformer model, ModelInfo info, BertFineTuneOptions options, List<KeyValuePair<string, string>> sizes,
        EvaluationResult? testResult, string? testSource, ModelComparison? comparison, IReadOnlyList<string>? binaryClassNames)
    {
        host.Cancellation.ThrowIfCancellationRequested();
        var history = model.History;
        string modelPath = result.GetValue(symbols.Output)!;
        ModelFile.Save(ml, model, info, modelPath);
        MemoryPhases.End("save");
        host.Out.WriteLine($"Saved {modelPath} ({new FileInfo(modelPath).Length / 1e6:F1} MB).");
        if (result.GetValue(symbols.ExportHuggingFace) is { } exportFolder)
        {
            model.ExportHuggingFaceFolder(exportFolder, binaryClassNames);
            host.Out.WriteLine($"Exported the Hugging Face folder {exportFolder}.");
        }

        string reportFolder = result.GetValue(symbols.ReportFolder)!;
        var summary = new TrainingSummary(CommandLine(), options, sizes, history, testResult, testSource, _clock.Elapsed,
            // The phase report resets the kernel's peak mark at each phase end; it keeps the overall peak itself.
            Math.Max(Process.GetCurrentProcess().PeakWorkingSet64, MemoryPhases.PeakBytes), modelPath, comparison);
        TrainingPlots.Loss(history, Path.Combine(reportFolder, "loss.png"));
        TrainingPlots.Validation(history, TrainingPlots.Kept(history, options.RestoreBestModel), Path.Combine(reportFolder, "validation.png"));
        AtomicFile.WriteAllText(Path.Combine(reportFolder, "report.md"), MarkdownReport.Render(summary, "loss.png", "validation.png"));
        host.Out.WriteLine($"Report: {Path.Combine(reportFolder, "report.md")} (loss.png, validation.png). Wall time {_clock.Elapsed.TotalSeconds:F0} s; " +
            $"peak working set {summary.PeakWorkingSetBytes / 1e9:F2} GB.");
        return ExitCodes.Success;
    }

    /// <summary>Range errors of the options are usage errors; they name the flag, not the library property.</summary>
    private void CheckOptions(MLContext ml, BertFineTuneOptions options)
    {
        try { _ = new BertFineTuneEstimator(ml, options); }
        catch (ArgumentException e) { throw new UsageException(symbols.Training.InFlags(e.Message.Split(" (Parameter")[0])); }
    }

    private string CommandLine() => "mlnet-tune " + string.Join(" ", result.Tokens.Select(t => t.Value.Contains(' ') ? $"\"{t.Value}\"" : t.Value));

    internal static BertTask ParseTask(string name) => name switch
    {
        "binary" => BertTask.BinaryClassification,
        "regression" => BertTask.Regression,
        "token-classification" => BertTask.TokenClassification,
        "question-answering" => BertTask.QuestionAnswering,
        "multi-label" => BertTask.MultiLabelClassification,
        "multiclass" => BertTask.MulticlassClassification,
        _ => throw new UsageException($"Unknown task '{name}'."),
    };

    /// <summary>--label-separator: one character, for multi-label only.</summary>
    private static char LabelSeparatorOf(string? given, BertTask task)
    {
        if (given is null) return ' ';
        if (task != BertTask.MultiLabelClassification) throw new UsageException("--label-separator applies to --task multi-label only. Leave it out.");
        if (given.Length != 1) throw new UsageException($"--label-separator is '{given}'; give one character (for example ',' or '|').");
        return given[0];
    }

    internal static string TaskName(BertTask task) => task switch
    {
        BertTask.BinaryClassification => "binary",
        BertTask.Regression => "regression",
        BertTask.TokenClassification => "token-classification",
        BertTask.QuestionAnswering => "question-answering",
        BertTask.MultiLabelClassification => "multi-label",
        BertTask.MulticlassClassification => "multiclass",
        _ => task.ToString(),
    };
}
