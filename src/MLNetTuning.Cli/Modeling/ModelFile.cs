using MLNetTuning.IO;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.ML;
using MLNetTuning.Cli.Data;
using MLNetTuning.Cli.Reports;

namespace MLNetTuning.Cli.Modeling;

/// <summary>What the CLI needs besides the weights to read data and name predictions; kept in the model zip beside ML.NET's entries.</summary>
/// <remarks>Token models also keep the CoNLL word and tag column numbers they were trained with (null: the file type's default),
/// so that evaluate reads a file as train did.</remarks>
internal sealed record ModelInfo(BertTask Task, IReadOnlyList<string> ClassNames, string TextColumn, string? SecondTextColumn, string LabelColumn, string Model,
    int? WordColumn = null, int? TagColumn = null, string? LabelSeparator = null)
{
    public ColumnNames Columns => new(TextColumn, SecondTextColumn, LabelColumn);

    public LabelScheme Labels => new(Task, ClassNames, LabelColumn, LabelSeparator is [var separator] ? separator : ' ');
}

/// <summary>A model zip written by `train`: the fine-tuned transformer (input: the text columns only) plus <see cref="ModelInfo"/>.</summary>
internal static class ModelFile
{
    // ML.NET reads only the entries it wrote, so an extra entry travels with the model without disturbing Model.Load.
    private const string InfoEntry = "MLNetTuningCli/info.json";

    /// <summary>Writes beside the target and moves into place, so that a failure never replaces a good model.</summary>
    public static void Save(MLContext ml, BertFineTuneTransformer model, ModelInfo info, string path)
    {
        AtomicFile.Write(path, temp =>
        {
            var schema = info.Task switch
            {
                BertTask.TokenClassification => TaggedViews.InputSchema(ml),
                BertTask.QuestionAnswering => AnswerViews.InputSchema(ml),
                _ => ExampleViews.InputSchema(ml, info.SecondTextColumn is not null),
            };
            ml.Model.Save(model, schema, temp);
            using var zip = ZipFile.Open(temp, ZipArchiveMode.Update);
            using var entry = zip.CreateEntry(InfoEntry).Open();
            JsonSerializer.Serialize(entry, info);
        });
    }

    /// <summary>Loads a model zip. Zips made elsewhere (without the CLI's entry) work too when their last stage is a BertFineTuneTransformer.</summary>
    public static (BertFineTuneTransformer Model, ModelInfo Info) Load(MLContext ml, string path, string option)
    {
        if (!File.Exists(path)) throw new CliException($"The model file '{path}' ({option}) does not exist. Train one with: mlnet-tune train ... --output {path}");
        ITransformer loaded;
        try { loaded = ml.Model.Load(path, out _); }
        catch (Exception e) when (e is InvalidDataException or FormatException or InvalidOperationException or IOException)
        {
            throw new CliException($"The model file '{path}' ({option}) is not an ML.NET model zip that this version can read: {e.Message}", e);
        }
        var model = Find(loaded) ?? throw new CliException(
            $"The model file '{path}' ({option}) holds no BertFineTuneTransformer (found {loaded.GetType().Name}); it was not made by MLNetTuning's fine-tuning.");
        return (model, ReadInfo(path) ?? InfoFromModel(model));
    }

    private static BertFineTuneTransformer? Find(ITransformer transformer) => transformer switch
    {
        BertFineTuneTransformer fine => fine,
        IEnumerable<ITransformer> chain => chain.Select(Find).LastOrDefault(t => t is not null),
        _ => null,
    };

    private static ModelInfo? ReadInfo(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        var entry = zip.GetEntry(InfoEntry);
        if (entry is null) return null;
        using var stream = entry.Open();
        return JsonSerializer.Deserialize<ModelInfo>(stream) ?? throw new CliException($"The model file '{path}' has an empty {InfoEntry}.");
    }

    private static ModelInfo InfoFromModel(BertFineTuneTransformer model)
    {
        string[] classes = model.Task switch
        {
            BertTask.MulticlassClassification or BertTask.TokenClassification or BertTask.MultiLabelClassification => [.. model.ClassNames],
            BertTask.BinaryClassification => ["false", "true"],
            _ => [],
        };
        return new ModelInfo(model.Task, classes, ExampleViews.TextColumn, null, ExampleViews.LabelColumn, "unknown");
    }
}
