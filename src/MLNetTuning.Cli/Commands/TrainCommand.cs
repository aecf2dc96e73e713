using System.CommandLine;
using MLNetTuning.Cli.Data;

namespace MLNetTuning.Cli.Commands;

/// <summary>`train`: its command-line symbols and the plan they make. <see cref="TrainRun"/> carries the plan out.</summary>
internal sealed class TrainCommand
{
    internal readonly Argument<string?> Data = new("data")
    {
        Description = "Training data: a TSV or CSV file with a header row (token classification: a CoNLL-style file or a TSV of sentences). Omitted: the README's main job on the bundled spam sample.",
        Arity = ArgumentArity.ZeroOrOne,
    };
    internal readonly Option<string?> TextColumn = new("--text-column") { Description = "The text column [Text]" };
    internal readonly Option<string?> SecondTextColumn = new("--second-text-column") { Description = "The second text column of sentence pairs" };
    internal readonly Option<string?> LabelColumn = new("--label-column") { Description = "The label column [Label]" };
    internal readonly Option<string?> Task = new Option<string?>("--task")
        {
            Description = "multiclass, binary, regression, token-classification (a CoNLL-style file of one word per line, or a .tsv with space-separated " +
                "words and tags in --text-column and --label-column), question-answering (SQuAD JSON, or a TSV of question, context, answer and answer start) " +
                "or multi-label (label names separated by --label-separator) [multiclass]",
        }
        .AcceptOnlyFromAmong("multiclass", "binary", "regression", "token-classification", "question-answering", "multi-label");
    internal readonly Option<string?> LabelSeparator = new("--label-separator") { Description = "Multi-label: the character between the label names of a label cell [a space]" };
    internal readonly Option<string?> QuestionColumn = new("--question-column") { Description = "Question answering, TSV/CSV: the question column [Question]" };
    internal readonly Option<string?> ContextColumn = new("--context-column") { Description = "Question answering, TSV/CSV: the context column [Context]" };
    internal readonly Option<string?> AnswerColumn = new("--answer-column") { Description = "Question answering, TSV/CSV: the answer column (several gold answers: separated by |||) [Answer]" };
    internal readonly Option<string?> AnswerStartColumn = new("--answer-start-column")
    {
        Description = "Question answering, TSV/CSV: the answer's character offset in the context [AnswerStart when the file has it, else the answer's first occurrence]",
    };
    internal readonly Option<int?> WordColumn = new("--word-column")
    {
        Description = "Token classification, CoNLL-style file: the word's column, from 0; negative counts from the end [.conll/.conllu: 1; other files: 0]",
    };
    internal readonly Option<int?> TagColumn = new("--tag-column")
    {
        Description = "Token classification, CoNLL-style file: the tag's column, from 0; negative counts from the end [.conllu: 3 (UPOS); others: -1, the last]",
    };
    internal readonly Option<string?> PositiveClass = new("--positive-class") { Description = "Binary: the label value that is positive (needed unless the labels are true/false, 1/0 or yes/no)" };
    internal readonly Option<string?> Model = new("--model") { Description = "An embedded model name (all-MiniLM-L6-v2) or a Hugging Face folder [all-MiniLM-L6-v2]" };
    internal readonly Option<int?> TrainRows = new("--train-rows") { Description = "Train on N rows of the data file, sampled with the seed [all]" };
    internal readonly Option<string?> Validation = new("--validation") { Description = "Validation data file (same columns), evaluated every epoch" };
    internal readonly Option<int?> ValidationRows = new("--validation-rows") { Description = "Validate on N further sampled rows of the data file, disjoint from the training rows (0: none)" };
    internal readonly Option<float?> ValidationFraction = new("--validation-fraction") { Description = "Hold out this fraction of the training rows for validation (stratified)" };
    internal readonly Option<string?> Test = new("--test") { Description = "Test data file: final metrics and confusion matrix after training" };
    internal readonly Option<int?> TestRows = new("--test-rows") { Description = "Test on N rows of the test file, sampled with the seed [all]" };
    internal readonly Option<string> Output = new("--output", "-o") { Description = "The model zip to write", DefaultValueFactory = _ => "model.zip" };
    internal readonly Option<string?> ExportHuggingFace = new("--export-hf") { Description = "Also write the model as a Hugging Face folder here" };
    internal readonly Option<bool> Baseline = new("--baseline")
    {
        Description = "Also train the classic ML.NET baseline (FeaturizeText + SDCA) on the same training rows and compare both on the test set " +
            "(without --test: on the validation set) in one table on the console and in the report",
    };
    internal readonly Option<string> ReportFolder = new("--report") { Description = "Folder for loss.png, validation.png and report.md", DefaultValueFactory = _ => "reports" };
    internal readonly FineTuneOptionSymbols Training = new();

    public Command Create(CliHost host)
    {
        var command = new Command("train", "Fine-tune a BERT model on a TSV/CSV file; writes model.zip and a training report. With no arguments: the main job on the bundled spam sample.");
        // An unknown option would otherwise be taken for the data file's name.
        Data.Validators.Add(r =>
        {
            if (r.Tokens is [{ Value: ['-', ..] value }]) r.AddError($"Unknown option '{value}'.");
        });
        command.Add(Data);
        foreach (var option in new Option[] { TextColumn, SecondTextColumn, LabelColumn, Task, WordColumn, TagColumn, LabelSeparator, QuestionColumn, ContextColumn,
                     AnswerColumn, AnswerStartColumn, PositiveClass, Model, TrainRows, Validation, ValidationRows,
                     ValidationFraction, Test, TestRows, Baseline, Output, ExportHuggingFace, ReportFolder })
            command.Add(option);
        foreach (var option in Training.Symbols) command.Add(option);
        command.SetAction(result => new TrainRun(host, this, result).Execute());
        return command;
    }
}

/// <summary>What to read and how to train, before the command line's overrides.</summary>
internal sealed record TrainPreset(string DataPath, string? TestPath, BertTask Task, string? PositiveClass, int? TrainRows, int? ValidationRows, int? TestRows,
    BertFineTuneOptions Options)
{
    /// <summary>The README's main job: 600 training and 300 test e-mails of the bundled SpamAssassin sample, one epoch, 128 tokens,
    /// batch 8, learning rate 2e-4, binary spam/ham, final weights kept; 100 more training e-mails are the validation set, evaluated every 25
    /// steps for the report.</summary>
    public static TrainPreset SpamSample()
    {
        string folder = SampleData.FindSpamFolder();
        return new TrainPreset(Path.Combine(folder, "train.tsv"), Path.Combine(folder, "test.tsv"), BertTask.BinaryClassification, "spam",
            TrainRows: 600, ValidationRows: 100, TestRows: 300, new BertFineTuneOptions
            {
                Epochs = 1,
                MaxSequenceLength = 128,
                BatchSize = 8,
                // MiniLM is small: a higher rate than BERT-base's usual 2e-5..5e-5 converges within one short epoch.
                LearningRate = 2e-4f,
                EvaluateEveryNSteps = 25,
                // The recipe keeps the final weights: 100 validation e-mails are too few to pick between close evaluations.
                RestoreBestModel = false,
            });
    }

    /// <summary>A user's file with the library's defaults.</summary>
    public static TrainPreset ForFile(string path) => new(path, null, BertTask.MulticlassClassification, null, null, null, null, new BertFineTuneOptions());
}
