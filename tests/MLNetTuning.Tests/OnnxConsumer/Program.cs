// Two runs of this app, two processes: `save` builds the pipeline from an exported .onnx and saves an ML.NET zip;
// `score` loads that zip in a fresh process and writes each row's PredictedLabel and Score. With a fifth argument
// `words`, the model is a token classifier: the pipeline splits the text into words first, and each row's output is a
// tag and a score per word.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning;

var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromTextFile(args[2], [new TextLoader.Column("Text", DataKind.String, 0)], separatorChar: '\t', allowQuoting: false);
bool words = args.Length > 4 && args[4] == "words";
string Floats(IEnumerable<float> values) => string.Join(" ", values.Select(x => x.ToString("R", CultureInfo.InvariantCulture)));
switch (args[0])
{
    case "save":
        if (words)
        {
            var pipeline = ml.Transforms.Text.TokenizeIntoWords("Words", "Text").Append(ml.Transforms.Text.BertOnnxScorer(args[1], textColumnName: "Words"));
            var tagger = pipeline.Fit(data);
            ml.Model.Save(tagger, data.Schema, args[3]);
            ((IDisposable)tagger.LastTransformer).Dispose();
        }
        else
        {
            using var scorer = ml.Transforms.Text.BertOnnxScorer(args[1], textColumnName: "Text").Fit(data);
            ml.Model.Save(scorer, data.Schema, args[3]);
        }
        Console.WriteLine($"OK saved {args[3]}");
        break;
    case "score":
        var model = ml.Model.Load(args[1], out _);
        var scored = model.Transform(data);
        VBuffer<ReadOnlyMemory<char>> classes = default;
        scored.Schema["PredictedLabel"].GetKeyValues(ref classes);
        var names = classes.DenseValues().Select(c => c.ToString()).ToArray();
        string[] lines = words
            ? scored.GetColumn<uint[]>("PredictedLabel").Zip(scored.GetColumn<float[]>("Score"), (tags, s) => string.Join(" ", tags.Select(t => names[t - 1])) + "\t" + Floats(s)).ToArray()
            : scored.GetColumn<uint>("PredictedLabel").Zip(scored.GetColumn<float[]>("Score"), (l, s) => names[l - 1] + "\t" + Floats(s)).ToArray();
        File.WriteAllLines(args[3], lines);
        Console.WriteLine($"OK scored {lines.Length} rows");
        break;
}
bool torch = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.StartsWith("TorchSharp", StringComparison.Ordinal) == true);
Console.WriteLine(torch ? "TORCHSHARP LOADED" : "NO TORCHSHARP");
