using System.Text;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace MLNetTuning.Tests.Cli;

/// <summary>
/// Synthetic tagged sentences the tiny model learns in seconds: the word alone decides the tag. A person is two words (w0..w4
/// then w5..w9: B-PER I-PER), a location one (w10..w14: B-LOC), and the rest are O. Files are CoNLL style as the bundled
/// samples: a comment line, then "ID word tag" per word and a blank line after each sentence.
/// </summary>
internal static class TaggedText
{
    private static readonly string[] Filler = ["the", "a", "is", "and", "to", "you", "we", "good"];

    public static string WriteConll(string folder, string name, int sentences, int seed, bool pos = false)
    {
        var random = new Random(seed);
        var conll = new StringBuilder();
        for (int s = 0; s < sentences; s++)
        {
            var words = new List<(string Word, string Tag)>();
            for (int i = random.Next(1, 4); i > 0; i--) words.Add((Filler[random.Next(Filler.Length)], "O"));
            words.Add(($"w{random.Next(0, 5)}", "B-PER"));
            words.Add(($"w{random.Next(5, 10)}", "I-PER"));
            for (int i = random.Next(1, 3); i > 0; i--) words.Add((Filler[random.Next(Filler.Length)], "O"));
            words.Add(($"w{random.Next(10, 15)}", "B-LOC"));
            if (random.Next(2) == 0) words.Add((Filler[random.Next(Filler.Length)], "O"));
            conll.Append("# sent_id = ").Append(s).Append('\n');
            for (int i = 0; i < words.Count; i++)
            {
                // POS-like tags: the same words, tags that name no entity.
                string tag = pos ? (words[i].Tag == "O" ? "DET" : "PROPN") : words[i].Tag;
                conll.Append(i + 1).Append('\t').Append(words[i].Word).Append('\t').Append(tag).Append('\n');
            }
            conll.Append('\n');
        }
        string path = Path.Combine(folder, name);
        File.WriteAllText(path, conll.ToString());
        return path;
    }
}

/// <summary>One tiny checkpoint and one `train --task token-classification` run, shared by the token CLI tests.</summary>
public sealed class CliTokenModelFixture : CliFixtureBase
{
    public CliTokenModelFixture() : base("mlnt-cli-tok-")
    {
        TrainPath = TaggedText.WriteConll(Folder, "train.conll", 160, seed: 1);
        TestPath = TaggedText.WriteConll(Folder, "test.conll", 30, seed: 2);
        ModelPath = Path.Combine(Folder, "out", "ner.zip");
        ReportFolder = Path.Combine(Folder, "out", "report");
        ExportFolder = Path.Combine(Folder, "out", "hf");
        Train = CliRunner.Run([
            "train", TrainPath, "--task", "token-classification", "--test", TestPath, "--validation-fraction", "0.1", "--output", ModelPath,
            "--report", ReportFolder, "--export-hf", ExportFolder, .. CliRunner.TinyTraining(TinyModel)]);
    }

    public string TrainPath { get; }
    public string TestPath { get; }
    public string ModelPath { get; }
    public string ReportFolder { get; }
    public string ExportFolder { get; }
    public CliRunner.Result Train { get; }
}

/// <summary>train, evaluate and predict of `mlnet-tune` for token classification on a tiny model, and the errors of tagged files.</summary>
[Collection(TorchRandomCollection.Name)]
public sealed class CliTokenClassificationTests(CliTokenModelFixture trained, ITestOutputHelper output) : IClassFixture<CliTokenModelFixture>
{
    [Fact]
    public void Train_PrintsEntityMetricsAndPerTypeTable_WritesThemInTheReport_AndExportsId2Label()
    {
        var run = trained.Train;
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        foreach (var text in new[] { "token-classification", "Per entity type", "Precision", "Recall", "TokenAccuracy", "support", "PER", "LOC" })
            Assert.Contains(text, run.Output);

        string report = File.ReadAllText(Path.Combine(trained.ReportFolder, "report.md"));
        Assert.Contains("| type | precision | recall | F1 | support |", report);
        Assert.Contains("| training tags | B-LOC ", report);
        // Each test sentence holds one person and one location.
        Assert.Contains("| 30 |", report.Split('\n').First(l => l.StartsWith("| PER |", StringComparison.Ordinal)));
        double f1 = double.Parse(report.Split('\n').First(l => l.StartsWith("| F1 |", StringComparison.Ordinal)).Split('|')[2]);
        Assert.True(f1 > 0.8, $"entity F1 {f1}");

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(trained.ExportFolder, "config.json")))!;
        Assert.Contains("BertForTokenClassification", config["architectures"]!.ToJsonString());
        var labels = config["id2label"]!.AsObject().Select(p => (string)p.Value!).ToList();
        Assert.Equal(["B-LOC", "B-PER", "I-PER", "O"], labels);
    }

    [Fact]
    public void Evaluate_PrintsThePerTypeTable_WithTheTestFilesSupport()
    {
        var run = CliRunner.Run(["evaluate", trained.ModelPath, trained.TestPath]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("30 sentences of", run.Output);
        foreach (var type in new[] { "PER", "LOC" })
        {
            var cells = run.Output.Split('\n').First(l => l.Split('│', StringSplitOptions.TrimEntries).ElementAtOrDefault(1) == type).Split('│', StringSplitOptions.TrimEntries);
            Assert.Equal("30", cells[5]);
        }
    }

    [Fact]
    public void PredictJson_GivesEntitiesWithOffsetsIntoTheOriginalText_AndOneTagPerWord()
    {
        string[] texts = ["  the w1   w6 is to w12 .", "we\tw3 w8"];
        var run = CliRunner.Run(["predict", trained.ModelPath, "--json", .. texts]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, lines.Count);
        for (int i = 0; i < texts.Length; i++)
        {
            Assert.Equal(texts[i], (string)lines[i]["text"]!);
            Assert.Equal(texts[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length, lines[i]["tags"]!.AsArray().Count);
            foreach (var entity in lines[i]["entities"]!.AsArray())
            {
                int start = (int)entity!["start"]!, end = (int)entity["end"]!;
                Assert.Equal(texts[i][start..end], (string)entity["text"]!);
                Assert.InRange((double)entity["score"]!, 0, 1);
            }
        }
        // The learned entities, at their exact places in the untouched text (double spaces and a tab included).
        var first = lines[0]["entities"]!.AsArray().Select(e => ((string)e!["type"]!, (int)e["start"]!, (int)e["end"]!)).ToList();
        Assert.Equal([("PER", 6, 13), ("LOC", 20, 23)], first);
        var second = lines[1]["entities"]!.AsArray().Select(e => ((string)e!["type"]!, (int)e["start"]!, (int)e["end"]!)).ToList();
        Assert.Equal([("PER", 3, 8)], second);
        Assert.Equal(["O", "B-PER", "I-PER"], lines[1]["tags"]!.AsArray().Select(t => (string)t!));
    }

    [Fact]
    public void PredictTable_ListsTypedSpans()
    {
        var run = CliRunner.Run(["predict", trained.ModelPath, "the w1 w6 is to w12 ."]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("w1 w6", run.Output);
        Assert.Contains("PER", run.Output);
    }

    [Fact]
    public void PosTags_TrainEvaluateAndPredict_ReportTokenAccuracyOnly_AndWordTagPairs()
    {
        string train = TaggedText.WriteConll(trained.Folder, "pos-train.conll", 40, seed: 4, pos: true);
        string model = Path.Combine(trained.Folder, "pos", "pos.zip");
        var run = CliRunner.Run(["train", train, "--task", "token-classification", "--test", train, "--output", model,
            "--report", Path.Combine(trained.Folder, "pos", "report"), .. CliRunner.TinyTraining(trained.TinyModel)]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("TokenAccuracy", run.Output);
        Assert.Contains("only token accuracy", run.Output);
        Assert.DoesNotContain("Per entity type", run.Output);

        var evaluate = CliRunner.Run(["evaluate", model, train]);
        output.WriteLine(evaluate.ToString());
        Assert.Equal(0, evaluate.ExitCode);
        Assert.Contains("only token accuracy", evaluate.Output);
        Assert.DoesNotContain("Recall", evaluate.Output);

        var predict = CliRunner.Run(["predict", model, "the w1 w6"]);
        output.WriteLine(predict.ToString());
        Assert.Equal(0, predict.ExitCode);
        Assert.Contains("the/", predict.Output);
        var json = JsonNode.Parse(CliRunner.Run(["predict", model, "--json", "the w1 w6"]).Output.Trim())!;
        Assert.Null(json["entities"]);
        Assert.Equal(3, json["tags"]!.AsArray().Count);
    }

    [Fact]
    public void TsvOfSentences_TrainsFromNamedColumns_AndEvaluateReadsItWithTheSavedColumns()
    {
        var sentences = MLNetTuning.Cli.Data.TaggedSentenceFile.ReadConll(trained.TrainPath, 1, -1, "test");
        string tsv = Path.Combine(trained.Folder, "sentences.tsv");
        File.WriteAllLines(tsv, ["Tags\tWords", .. sentences.Take(60).Select(x => string.Join(' ', x.Tags) + "\t" + string.Join(' ', x.Words))]);
        string model = Path.Combine(trained.Folder, "tsv", "model.zip");
        var run = CliRunner.Run(["train", tsv, "--task", "token-classification", "--text-column", "Words", "--label-column", "Tags", "--output", model,
            "--report", Path.Combine(trained.Folder, "tsv", "report"), .. CliRunner.TinyTraining(trained.TinyModel)]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("60 sentences of sentences.tsv", run.Output);

        var evaluate = CliRunner.Run(["evaluate", model, tsv]);
        output.WriteLine(evaluate.ToString());
        Assert.Equal(0, evaluate.ExitCode);
        Assert.Contains("Per entity type", evaluate.Output);

        var csv = CliRunner.Run(["train", Path.ChangeExtension(tsv, ".csv"), "--task", "token-classification"]);
        Assert.Equal(2, csv.ExitCode);
        Assert.Contains("CSV", csv.Error);
    }

    [Fact]
    public void BadColumnNumber_NamesTheFlagTheFileAndTheLine()
    {
        var run = CliRunner.Run(["train", trained.TrainPath, "--task", "token-classification", "--word-column", "5", "--model", trained.TinyModel]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("--word-column", run.Error);
        Assert.Contains(trained.TrainPath, run.Error);
        Assert.Contains("line 2", run.Error);
        Assert.DoesNotContain("   at ", run.Error);
    }

    [Fact]
    public void LineWithTooFewColumns_NamesTheFileAndTheLine()
    {
        string path = Path.Combine(trained.Folder, "short.conll");
        File.WriteAllText(path, "1\tthe\tO\n2\tw1\tB-PER\n\n1\tw2\n");
        var run = CliRunner.Run(["train", path, "--task", "token-classification", "--model", trained.TinyModel]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(path, run.Error);
        Assert.Contains("line 4", run.Error);
    }

    [Fact]
    public void TestTagUnseenInTraining_IsNamedWithItsFileAndLine_BeforeTraining()
    {
        string test = Path.Combine(trained.Folder, "unseen.conll");
        File.WriteAllText(test, "1\tthe\tO\n\n# c\n1\tw1\tB-ORG\n");
        var run = CliRunner.Run(["train", trained.TrainPath, "--task", "token-classification", "--test", test, "--model", trained.TinyModel]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("'B-ORG'", run.Error);
        Assert.Contains(test, run.Error);
        Assert.Contains("line 4", run.Error);
        Assert.DoesNotContain("Fine-tuning", run.Output);
    }
}
