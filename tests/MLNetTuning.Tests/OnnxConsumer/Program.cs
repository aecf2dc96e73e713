// Two runs of this app, two processes: `save` builds the pipeline from an exported .onnx and saves an ML.NET zip;
// `score` loads that zip in a fresh process and writes each row's PredictedLabel and Score.
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning;

var ml = new MLContext(seed: 1);
var data = ml.Data.LoadFromTextFile(args[2], [new TextLoader.Column("Text", DataKind.String, 0)], separatorChar: '\t', allowQuoting: false);
switch (args[0])
{
    case "save":
        using (var scorer = ml.Transforms.Text.BertOnnxScorer(args[1], textColumnName: "Text").Fit(data))
            ml.Model.Save(scorer, data.Schema, args[3]);
        Console.WriteLine($"OK saved {args[3]}");
        break;
    case "score":
        var model = ml.Model.Load(args[1], out _);
        var scored = model.Transform(data);
        VBuffer<ReadOnlyMemory<char>> classes = default;
        scored.Schema["PredictedLabel"].GetKeyValues(ref classes);
        var names = classes.DenseValues().Select(c => c.ToString()).ToArray();
        var labels = scored.GetColumn<uint>("PredictedLabel").ToArray();
        var scores = scored.GetColumn<float[]>("Score").ToArray();
        File.WriteAllLines(args[3], labels.Zip(scores, (l, s) => names[l - 1] + "\t" + string.Join(" ", s.Select(x => x.ToString("R", CultureInfo.InvariantCulture)))));
        Console.WriteLine($"OK scored {labels.Length} rows");
        break;
}
bool torch = AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name?.StartsWith("TorchSharp", StringComparison.Ordinal) == true);
Console.WriteLine(torch ? "TORCHSHARP LOADED" : "NO TORCHSHARP");
