using System.CommandLine;
using Microsoft.ML;
using MLNetTuning.Cli.Modeling;
using Spectre.Console;

namespace MLNetTuning.Cli.Commands;

/// <summary>`export`: a model zip becomes a Hugging Face folder (config.json with the labels, model.safetensors, tokenizer files).</summary>
internal static class ExportCommand
{
    public static Command Create(CliHost host)
    {
        var modelPath = new Argument<string>("model") { Description = "The model zip written by train" };
        var folder = new Argument<string>("folder") { Description = "The Hugging Face folder to write (replaced whole once complete)" };
        var command = new Command("export", "Write a model zip as a Hugging Face folder, loadable by transformers' from_pretrained and by MLNetTuning.") { modelPath, folder };
        command.SetAction(result =>
        {
            var (model, info) = ModelFile.Load(new MLContext(seed: 1), result.GetValue(modelPath)!, "model");
            // The binary class names come from the training file (kept in the zip by train), as predict and evaluate show them.
            using (model) model.ExportHuggingFaceFolder(result.GetValue(folder)!, info.Task == BertTask.BinaryClassification ? info.ClassNames : null);
            host.Out.WriteLine($"Exported {result.GetValue(modelPath)} to {result.GetValue(folder)}.");
            return ExitCodes.Success;
        });
        return command;
    }
}
