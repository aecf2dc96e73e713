using System.CommandLine;
using Microsoft.ML;
using MLNetTuning.Cli.Modeling;
using Spectre.Console;

namespace MLNetTuning.Cli.Commands;

/// <summary>
/// `export`: a model zip becomes a Hugging Face folder (config.json with the labels, model.safetensors, tokenizer files),
/// or with `--format onnx` an ONNX graph with its tokenizer files and scoring settings (optionally int8).
/// </summary>
internal static class ExportCommand
{
    public static Command Create(CliHost host)
    {
        var modelPath = new Argument<string>("model") { Description = "The model zip written by train" };
        var target = new Argument<string>("target") { Description = "The Hugging Face folder to write (replaced whole once complete), or with --format onnx the .onnx file" };
        var format = new Option<string>("--format") { Description = "hf: a Hugging Face folder; onnx: an ONNX graph (opset 17) plus tokenizer files and mlnet_scoring.json beside it", DefaultValueFactory = _ => "hf" }
            .AcceptOnlyFromAmong("hf", "onnx");
        var quantize = new Option<string>("--quantize") { Description = "With --format onnx: none (float32) or int8 (dynamic int8 matrix products)", DefaultValueFactory = _ => "none" }
            .AcceptOnlyFromAmong("none", "int8");
        var command = new Command("export", "Write a model zip as a Hugging Face folder (transformers' from_pretrained, MLNetTuning) or as ONNX (ONNX Runtime, MLNetTuning.Onnx).")
            { modelPath, target, format, quantize };
        command.SetAction(result =>
        {
            bool onnx = result.GetValue(format) == "onnx";
            var quantization = result.GetValue(quantize) == "int8" ? OnnxQuantization.Int8 : OnnxQuantization.None;
            if (!onnx && quantization != OnnxQuantization.None)
                throw new UsageException("--quantize int8 applies to --format onnx only; a Hugging Face folder keeps float32 weights.");
            string path = result.GetValue(target)!;
            var (model, info) = ModelFile.Load(new MLContext(seed: 1), result.GetValue(modelPath)!, "model");
            using (model)
            {
                if (onnx)
                {
                    model.ExportOnnx(path, quantization);
                    if (info.Task == BertTask.BinaryClassification && info.ClassNames.Count == 2) NameBinaryClasses(path, info.ClassNames);
                }
                // The binary class names come from the training file (kept in the zip by train), as predict and evaluate show them.
                else model.ExportHuggingFaceFolder(path, info.Task == BertTask.BinaryClassification ? info.ClassNames : null);
            }
            string what = onnx ? $"an ONNX graph ({(quantization == OnnxQuantization.Int8 ? "int8" : "float32")}, {new FileInfo(path).Length / 1e6:F1} MB)" : "a Hugging Face folder";
            host.Out.WriteLine($"Exported {result.GetValue(modelPath)} to {path} as {what}.");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// A binary head has one logit and no class names of its own; the training file's two classes (`ham`, `spam`), which
    /// the zip keeps, go into mlnet_scoring.json's class_names, so that `serve model.onnx` names them as `serve model.zip` does.
    /// </summary>
    private static void NameBinaryClasses(string graphPath, IReadOnlyList<string> classNames)
    {
        string settingsPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(graphPath))!, "mlnet_scoring.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(settingsPath))!.AsObject();
        json["class_names"] = new System.Text.Json.Nodes.JsonArray(classNames.Select(c => (System.Text.Json.Nodes.JsonNode?)c).ToArray());
        MLNetTuning.IO.AtomicFile.Write(settingsPath, temp => File.WriteAllText(temp, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true })));
    }
}
