using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Cli.Commands;
using MLNetTuning.Cli.Modeling;
using MLNetTuning.Serve;
using MLNetTuning.Tagging;
using MLNetTuning.Training;

namespace MLNetTuning.Tests.Serve;

/// <summary>
/// Each task's JSON over loopback, from tiny random models: the .onnx exports through MLNetTuning.Onnx against the
/// TorchSharp stage they came from, model zips (token classification, question answering) against `predict`'s code, and
/// the .onnx exports of token and question-answering models against the model zip they were exported from.
/// </summary>
public sealed class ServeTaskTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-serve-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static readonly string[] Texts =
    [
        "Congratulations, you have won a free cruise. Reply now to claim your offer.",
        "The meeting moved to Thursday at ten; please bring the quarterly figures.",
        "",
        "short",
        "Is the build green again after the fix to the tokenizer, or do we still see the failure on the nightly run?",
    ];

    private sealed class Row
    {
        public string Text { get; set; } = "";
        public string Other { get; set; } = "";
    }

    public static TheoryData<BertTask, bool> OnnxTasks => new()
    {
        { BertTask.BinaryClassification, false },
        { BertTask.MulticlassClassification, false },
        { BertTask.MulticlassClassification, true },
        { BertTask.Regression, false },
        { BertTask.MultiLabelClassification, false },
    };

    [Theory]
    [MemberData(nameof(OnnxTasks))]
    public async Task Onnx_PredictJson_MatchesTheTorchSharpStage(BertTask kind, bool pairs)
    {
        var ml = new MLContext(seed: 1);
        using var torch = new BertFineTuneTransformer(OnnxExportTests.TinyModel(kind), "Text", pairs ? "Other" : null);
        string path = Path.Combine(_scratch, "model.onnx");
        torch.ExportOnnx(path);
        var rows = Texts.Select((t, i) => new Row { Text = t, Other = Texts[(i + 1) % Texts.Length] }).ToList();
        var expected = torch.Transform(ml.Data.LoadFromEnumerable(rows));

        using var predictor = OnnxPredictor.Open(path);
        await using var server = await ServeHarness.StartAsync(predictor);
        var info = await server.GetJsonAsync("info");
        Assert.Equal(kind.ToString(), (string?)info["task"]);
        Assert.Equal("float32", (string?)info["precision"]);
        Assert.Equal(pairs ? "pairs" : "texts", (string?)info["input"]);
        string request = pairs
            ? new JsonObject { ["pairs"] = new JsonArray(rows.Select(r => (JsonNode?)new JsonArray(r.Text, r.Other)).ToArray()) }.ToJsonString()
            : new JsonObject { ["texts"] = new JsonArray(Texts.Select(t => (JsonNode?)t).ToArray()) }.ToJsonString();
        var predictions = await server.PredictAsync(request);
        Assert.Equal(Texts.Length, predictions.Count);

        for (int i = 0; i < Texts.Length; i++)
        {
            var p = predictions[i]!.AsObject();
            switch (kind)
            {
                case BertTask.BinaryClassification:
                    float positive = expected.GetColumn<float>("Probability").ElementAt(i);
                    Assert.Equal(positive, (float)p["probabilities"]!["true"]!, 4);
                    Assert.Equal(positive > 0.5 ? "true" : "false", (string?)p["label"]);
                    break;
                case BertTask.MulticlassClassification:
                    float[] probabilities = expected.GetColumn<float[]>("Score").ElementAt(i);
                    string[] classes = ["ham", "spam", "other"];
                    for (int c = 0; c < 3; c++) Assert.Equal(probabilities[c], (float)p["probabilities"]![classes[c]]!, 4);
                    Assert.Equal(classes[Array.IndexOf(probabilities, probabilities.Max())], (string?)p["label"]);
                    break;
                case BertTask.Regression:
                    Assert.Equal(expected.GetColumn<float>("Score").ElementAt(i), (float)p["score"]!, 2);
                    break;
                default:
                    float[] scores = expected.GetColumn<float[]>("Score").ElementAt(i);
                    bool[] chosen = expected.GetColumn<bool[]>("PredictedLabel").ElementAt(i);
                    string[] labels = ["a", "b", "c", "d"];
                    Assert.Equal(labels.Where((_, c) => chosen[c]).OrderBy(l => l), p["labels"]!.AsArray().Select(l => (string)l!).OrderBy(l => l));
                    for (int c = 0; c < 4; c++) Assert.Equal(scores[c], (float)p["probabilities"]![labels[c]]!, 4);
                    break;
            }
        }
    }

    [Fact]
    public async Task Onnx_ConcurrentRequestsJoinedInBatches_GetTheSamePredictionsAsAlone()
    {
        using var torch = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.MulticlassClassification), "Text", null);
        string path = Path.Combine(_scratch, "model.onnx");
        torch.ExportOnnx(path);
        using var predictor = OnnxPredictor.Open(path);
        await using var server = await ServeHarness.StartAsync(predictor, new ServeSettings { MaxBatch = 8, MaxWaitMs = 50 });
        var alone = new List<JsonNode>();
        foreach (var text in Texts) alone.Add((await server.PredictAsync(new JsonObject { ["texts"] = new JsonArray(text) }.ToJsonString()))[0]!);
        long batchesBefore = (long)(await server.GetJsonAsync("healthz"))["batches"]!;

        var together = await Task.WhenAll(Texts.Select(t => server.PredictAsync(new JsonObject { ["texts"] = new JsonArray(t) }.ToJsonString())));
        long batches = (long)(await server.GetJsonAsync("healthz"))["batches"]! - batchesBefore;
        Assert.True(batches < Texts.Length, $"{Texts.Length} concurrent requests took {batches} calls of the model; dynamic batching should join them.");
        for (int i = 0; i < Texts.Length; i++)
        {
            Assert.Equal((string?)alone[i]["label"], (string?)together[i][0]!["label"]);
            foreach (var (label, p) in alone[i]["probabilities"]!.AsObject())
                Assert.Equal((float)p!, (float)together[i][0]!["probabilities"]![label]!, 4);
        }
    }

    [Fact]
    public async Task ModelZip_TokenClassification_GivesEntitiesWithOffsetsAndOneTagPerWord()
    {
        var ml = new MLContext(seed: 1);
        var model = OnnxExportTests.TinyModel(BertTask.TokenClassification);
        string[] tags = [.. model.Task.HeadLabels];
        string path = Path.Combine(_scratch, "tokens.zip");
        using (var transformer = new BertFineTuneTransformer(model, "Text", null))
            ModelFile.Save(ml, transformer, new ModelInfo(BertTask.TokenClassification, tags, "Text", null, "Tags", "tiny"), path);

        using var predictor = ZipPredictor.Open(path);
        Assert.IsType<ZipPredictor>(predictor);
        await using var server = await ServeHarness.StartAsync(predictor);
        Assert.Equal("texts", (string?)(await server.GetJsonAsync("info"))["input"]);
        string[] texts = ["Ada Lovelace met  Charles Babbage in London", "   ", "one"];
        var predictions = await server.PredictAsync(new JsonObject { ["texts"] = new JsonArray(texts.Select(t => (JsonNode?)t).ToArray()) }.ToJsonString());

        using var reference = (BertFineTuneTransformer)ml.Model.Load(path, out _);
        var expected = TagPredictions.Predict(ml, reference, tags, texts);
        for (int i = 0; i < texts.Length; i++)
        {
            var p = predictions[i]!.AsObject();
            Assert.Equal(expected[i].Tags, p["tags"]!.AsArray().Select(t => (string)t!));
            Assert.Equal(TaggedTexts.Words(texts[i]).Count, p["tags"]!.AsArray().Count);
            var entities = p["entities"]!.AsArray();
            Assert.Equal(expected[i].Entities!.Count, entities.Count);
            foreach (var e in entities)
                Assert.Equal(texts[i][(int)e!["start"]!..(int)e["end"]!], (string?)e["text"]);
        }
        Assert.NotEmpty(predictions.SelectMany(p => p!["entities"]!.AsArray()));
    }

    [Fact]
    public async Task ModelZip_QuestionAnswering_GivesAnswersAsSpansOfTheirContext()
    {
        var ml = new MLContext(seed: 1);
        string path = Path.Combine(_scratch, "qa.zip");
        using (var transformer = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.QuestionAnswering), "Question", "Context"))
            ModelFile.Save(ml, transformer, new ModelInfo(BertTask.QuestionAnswering, [], "Question", "Context", "Answer", "tiny"), path);

        using var predictor = ZipPredictor.Open(path);
        await using var server = await ServeHarness.StartAsync(predictor);
        Assert.Equal("questions", (string?)(await server.GetJsonAsync("info"))["input"]);
        (string Question, string Context)[] questions =
            [("who wrote it", "the book was written by ada in london"), ("where is it", "it is in the old town next to the river")];
        var predictions = await server.PredictAsync(new JsonObject
        {
            ["questions"] = new JsonArray(questions.Select(q => (JsonNode?)new JsonObject { ["question"] = q.Question, ["context"] = q.Context }).ToArray()),
        }.ToJsonString());

        using var reference = (BertFineTuneTransformer)ml.Model.Load(path, out _);
        var expected = AnswerPredictions.Predict(ml, reference, questions);
        for (int i = 0; i < questions.Length; i++)
        {
            var p = predictions[i]!.AsObject();
            Assert.Equal(expected[i].Answer, (string?)p["answer"]);
            Assert.Equal(expected[i].Start, (int)p["start"]!);
            int start = (int)p["start"]!, end = (int)p["end"]!;
            if (start >= 0) Assert.Equal(questions[i].Context[start..end], (string?)p["answer"]);
            else Assert.Equal("", (string?)p["answer"]);
            Assert.Equal(expected[i].Score, (double)p["score"]!, 4);
        }
    }

    [Fact]
    public async Task Onnx_TokenClassification_GivesTheSameJsonAsTheModelZip()
    {
        var ml = new MLContext(seed: 1);
        var model = OnnxExportTests.TinyModel(BertTask.TokenClassification);
        string[] tags = [.. model.Task.HeadLabels];
        string zip = Path.Combine(_scratch, "tokens.zip"), onnx = Path.Combine(_scratch, "tokens.onnx");
        using (var transformer = new BertFineTuneTransformer(model, "Text", null))
        {
            ModelFile.Save(ml, transformer, new ModelInfo(BertTask.TokenClassification, tags, "Text", null, "Tags", "tiny"), zip);
            transformer.ExportOnnx(onnx);
        }
        string[] texts =
        [
            "Ada Lovelace met  Charles Babbage in London",
            "   ",
            "one",
            "\tTabs and\nnew lines split words too, as does a   run of spaces before the end",
            string.Join(' ', Enumerable.Range(0, 60).Select(i => $"word{i % 7} Ada")),
        ];
        string request = new JsonObject { ["texts"] = new JsonArray(texts.Select(t => (JsonNode?)t).ToArray()) }.ToJsonString();

        var (zipInfo, fromZip) = await ServeAsync(ZipPredictor.Open(zip), request);
        var (onnxInfo, fromOnnx) = await ServeAsync(OnnxPredictor.Open(onnx), request);

        foreach (var key in new[] { "task", "labels", "input" }) AssertSameJson(zipInfo[key], onnxInfo[key], $"info.{key}");
        AssertSameJson(fromZip, fromOnnx, "predictions");
        // The comparison means something only if the tiny model finds entities and the export tags words as the zip does.
        Assert.NotEmpty(fromOnnx.SelectMany(p => p!["entities"]!.AsArray()));
        for (int i = 0; i < texts.Length; i++) Assert.Equal(TaggedTexts.Words(texts[i]).Count, fromOnnx[i]!["tags"]!.AsArray().Count);
    }

    [Fact]
    public async Task Onnx_TokenModelOfOneTextPerRow_GivesTheSameJsonAsTheWordVectorModel()
    {
        // A model trained through the library on one text per row (not a vector of words) splits the text itself; the server
        // must give it the text, and the same words come out. The second model gets the first one's weights copied: a seed
        // alone does not give the same weights while other tests draw from libtorch's global generator in parallel.
        var vector = OnnxExportTests.TinyModel(BertTask.TokenClassification);
        var same = OnnxExportTests.TinyModel(BertTask.TokenClassification);
        var weights = vector.Model.state_dict();
        using (TorchSharp.torch.no_grad())
            foreach (var (name, value) in same.Model.state_dict()) value.copy_(weights[name]);
        var oneText = new FineTunedBert(same.Model, same.Tokenizer,
            FineTuneTasks.ForScoring(BertTask.TokenClassification, [.. vector.Task.HeadLabels], 0, 1, words: new WordInput(false, 32)),
            128, 16, new TrainingHistory(), TorchSharp.torch.CPU);
        string vectorPath = Path.Combine(_scratch, "vector", "model.onnx"), textPath = Path.Combine(_scratch, "text", "model.onnx");
        using (var transformer = new BertFineTuneTransformer(vector, "Text", null)) transformer.ExportOnnx(vectorPath);
        using (var transformer = new BertFineTuneTransformer(oneText, "Text", null)) transformer.ExportOnnx(textPath);
        Assert.False((bool)JsonNode.Parse(File.ReadAllText(Path.Combine(_scratch, "text", "mlnet_scoring.json")))!["words_are_vector"]!);

        string request = new JsonObject { ["texts"] = new JsonArray("Ada Lovelace met  Charles Babbage in London", " \t ", "one\ttwo\nthree") }.ToJsonString();
        var (_, fromVector) = await ServeAsync(OnnxPredictor.Open(vectorPath), request);
        var (_, fromText) = await ServeAsync(OnnxPredictor.Open(textPath), request);

        AssertSameJson(fromVector, fromText, "predictions");
        Assert.Equal(3, fromText[2]!["tags"]!.AsArray().Count);
    }

    [Fact]
    public async Task Onnx_QuestionAnswering_GivesTheSameJsonAsTheModelZip()
    {
        var ml = new MLContext(seed: 1);
        string zip = Path.Combine(_scratch, "qa.zip"), onnx = Path.Combine(_scratch, "qa.onnx");
        using (var transformer = new BertFineTuneTransformer(OnnxExportTests.TinyModel(BertTask.QuestionAnswering), "Question", "Context"))
        {
            ModelFile.Save(ml, transformer, new ModelInfo(BertTask.QuestionAnswering, [], "Question", "Context", "Answer", "tiny"), zip);
            transformer.ExportOnnx(onnx);
        }
        (string Question, string Context)[] questions =
        [
            ("who wrote it", "the book was written by ada in london"),
            ("where is it", "it is in the old town next to the river"),
            ("what", ""),
            ("when did the long meeting end", string.Join(' ', Enumerable.Range(0, 80).Select(i => $"day {i} of the meeting"))),
        ];
        string request = new JsonObject
        {
            ["questions"] = new JsonArray(questions.Select(q => (JsonNode?)new JsonObject { ["question"] = q.Question, ["context"] = q.Context }).ToArray()),
        }.ToJsonString();

        var (zipInfo, fromZip) = await ServeAsync(ZipPredictor.Open(zip), request);
        var (onnxInfo, fromOnnx) = await ServeAsync(OnnxPredictor.Open(onnx), request);

        foreach (var key in new[] { "task", "labels", "input" }) AssertSameJson(zipInfo[key], onnxInfo[key], $"info.{key}");
        Assert.Equal("questions", (string?)onnxInfo["input"]);
        AssertSameJson(fromZip, fromOnnx, "predictions");
        for (int i = 0; i < questions.Length; i++)
        {
            int start = (int)fromOnnx[i]!["start"]!, end = (int)fromOnnx[i]!["end"]!;
            Assert.Equal(start < 0 ? "" : questions[i].Context[start..end], (string?)fromOnnx[i]!["answer"]);
        }
        Assert.Contains(fromOnnx, p => (int)p!["start"]! >= 0);
    }

    private static async Task<(JsonObject Info, JsonArray Predictions)> ServeAsync(IPredictor opened, string request)
    {
        using var predictor = opened;
        await using var server = await ServeHarness.StartAsync(predictor);
        return (await server.GetJsonAsync("info"), await server.PredictAsync(request));
    }

    /// <summary>Same keys in the same order, same strings and array lengths; numbers within 1e-4 (entity scores are rounded to 4 decimals).</summary>
    private static void AssertSameJson(JsonNode? expected, JsonNode? actual, string where)
    {
        switch (expected)
        {
            case null:
                Assert.Null(actual);
                break;
            case JsonObject o:
                var other = Assert.IsType<JsonObject>(actual);
                Assert.Equal(o.Select(p => p.Key), other.Select(p => p.Key));
                foreach (var (key, value) in o) AssertSameJson(value, other[key], $"{where}.{key}");
                break;
            case JsonArray a:
                var array = Assert.IsType<JsonArray>(actual);
                Assert.True(a.Count == array.Count, $"{where}: {a.Count} items from the zip, {array.Count} from the ONNX export.");
                for (int i = 0; i < a.Count; i++) AssertSameJson(a[i], array[i], $"{where}[{i}]");
                break;
            default:
                Assert.NotNull(actual);
                Assert.Equal(expected.GetValueKind(), actual.GetValueKind());
                if (expected.GetValueKind() == System.Text.Json.JsonValueKind.Number)
                {
                    double x = expected.GetValue<double>(), y = actual.GetValue<double>();
                    Assert.True(Math.Abs(x - y) <= 1e-4 + 1e-9, $"{where}: {x} from the zip, {y} from the ONNX export.");
                }
                else Assert.True(expected.ToJsonString() == actual.ToJsonString(), $"{where}: {expected.ToJsonString()} from the zip, {actual.ToJsonString()} from the ONNX export.");
                break;
        }
    }
}
