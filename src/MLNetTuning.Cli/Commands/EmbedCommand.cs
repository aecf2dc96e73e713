using System.CommandLine;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Cli.Data;

namespace MLNetTuning.Cli.Commands;

/// <summary>`embed`: texts give sentence embeddings (JSON lines) through ML.NET's BertEmbeddings featurizer.</summary>
internal static class EmbedCommand
{
    public static Command Create(CliHost host)
    {
        var texts = new Argument<string[]>("texts") { Description = "Texts to embed. None: --file or standard input", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file", "-f") { Description = "A text file (one text per line) or a TSV/CSV file (its --text-column)" };
        var textColumn = new Option<string>("--text-column") { Description = "The text column of a TSV/CSV --file", DefaultValueFactory = _ => "Text" };
        var model = new Option<string>("--model") { Description = "An embedded model name or a Hugging Face folder", DefaultValueFactory = _ => "all-MiniLM-L6-v2" };
        var pooling = new Option<BertPooling>("--pooling") { Description = "Mean, Cls or Max", DefaultValueFactory = _ => BertPooling.Mean };
        var normalize = new Option<bool>("--normalize") { Description = "Scale each vector to unit length", DefaultValueFactory = _ => true };
        var maxLength = new Option<int>("--max-length") { Description = "Tokens per text after truncation", DefaultValueFactory = _ => 256 };
        var batchSize = new Option<int>("--batch-size") { Description = "Texts per forward pass", DefaultValueFactory = _ => 64 };
        var command = new Command("embed", "Sentence embeddings of texts as JSON lines {\"text\", \"embedding\"}, through ml.Transforms.Text.BertEmbeddings.")
        {
            texts, file, textColumn, model, pooling, normalize, maxLength, batchSize,
        };
        command.SetAction(result =>
        {
            var inputs = TextInputs.Read(host, result.GetValue(texts) ?? [], result.GetValue(file), ColumnNames.Default with { Text = result.GetValue(textColumn)! }, pair: false);
            var ml = new MLContext(seed: 1);
            var data = ExampleViews.Unlabeled(ml, inputs, pair: false);
            const string output = "Embedding";
            BertEmbeddingsTransformer featurizer;
            try
            {
                featurizer = ml.Transforms.Text.BertEmbeddings(output, ExampleViews.TextColumn, result.GetValue(model)!, result.GetValue(pooling),
                    result.GetValue(normalize), result.GetValue(maxLength), result.GetValue(batchSize)).Fit(data);
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName is "maxSequenceLength" or "batchSize")
            {
                string flag = e.ParamName == "batchSize" ? "--batch-size" : "--max-length";
                throw new UsageException($"{flag} {e.ActualValue}: {e.Message.Split(Environment.NewLine)[0].Split(" (Parameter")[0]}");
            }
            using var _ = featurizer;
            var vectors = featurizer.Transform(data).GetColumn<float[]>(output);
            int row = 0;
            foreach (var vector in vectors)
                host.RawOut.WriteLine(JsonSerializer.Serialize(new { text = inputs[row++].Text, embedding = vector }));
            host.RawOut.Flush();
            return ExitCodes.Success;
        });
        return command;
    }
}
