using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace MLNetTuning.Tests.Cli;

/// <summary>A tiny SQuAD JSON file (the answer is the word after "is") and a multi-label TSV (each word names its label), trained once.</summary>
public sealed class CliAnswerModelFixture : CliFixtureBase
{
    public CliAnswerModelFixture() : base("mlnt-cli-qa-")
    {
        SquadPath = WriteSquad(Folder, "train.json", 40, seed: 1);
        ModelPath = Path.Combine(Folder, "out", "qa.zip");
        Train = CliRunner.Run(["train", SquadPath, "--task", "question-answering", "--test", SquadPath, "--test-rows", "10", "--max-answer-length", "4",
            "--document-stride", "8", "--output", ModelPath, "--report", Path.Combine(Folder, "out", "report"), .. CliRunner.TinyTraining(TinyModel)]);

        var labels = new StringBuilder("Text\tLabels\n");
        var random = new Random(2);
        for (int i = 0; i < 60; i++)
        {
            bool a = random.Next(2) == 0, b = random.Next(2) == 0;
            labels.Append($"the {(a ? "apple" : "stone")} and {(b ? "river" : "chair")}\t{(a ? "fruit" : "")}{(a && b ? "," : "")}{(b ? "water" : "")}\n");
        }
        LabelsPath = Path.Combine(Folder, "labels.tsv");
        File.WriteAllText(LabelsPath, labels.ToString());
        LabelModelPath = Path.Combine(Folder, "out", "ml.zip");
        TrainLabels = CliRunner.Run(["train", LabelsPath, "--task", "multi-label", "--label-column", "Labels", "--label-separator", ",", "--test", LabelsPath,
            "--validation-fraction", "0.2", "--tune-thresholds", "--output", LabelModelPath, "--report", Path.Combine(Folder, "out", "ml-report"), .. CliRunner.TinyTraining(TinyModel)]);
    }

    public string SquadPath { get; }
    public string ModelPath { get; }
    public CliRunner.Result Train { get; }
    public string LabelsPath { get; }
    public string LabelModelPath { get; }
    public CliRunner.Result TrainLabels { get; }

    internal static string WriteSquad(string folder, string name, int questions, int seed, bool badStart = false)
    {
        var random = new Random(seed);
        var paragraphs = new JsonArray();
        for (int i = 0; i < questions; i++)
        {
            string answer = $"w{random.Next(10)}";
            string context = $"the good one is {answer} and we to you";
            int start = context.IndexOf(answer, StringComparison.Ordinal) + (badStart && i == 3 ? 1 : 0);
            var qa = new JsonObject
            {
                ["id"] = $"q{i}", ["question"] = "which one is good",
                ["answers"] = new JsonArray(new JsonObject { ["text"] = answer, ["answer_start"] = start }, new JsonObject { ["text"] = $"{answer} and", ["answer_start"] = start }),
            };
            paragraphs.Add(new JsonObject { ["context"] = context, ["qas"] = new JsonArray(qa) });
        }
        string path = Path.Combine(folder, name);
        File.WriteAllText(path, new JsonObject { ["data"] = new JsonArray(new JsonObject { ["title"] = "t", ["paragraphs"] = paragraphs }) }.ToJsonString());
        return path;
    }
}

/// <summary>train, evaluate and predict of `mlnet-tune` for question answering and multi-label classification on a tiny model.</summary>
[Collection(TorchRandomCollection.Name)]
public sealed class CliAnswerAndMultiLabelTests(CliAnswerModelFixture trained, ITestOutputHelper output) : IClassFixture<CliAnswerModelFixture>
{
    [Fact]
    public void QuestionAnswering_TrainEvaluatePredict_PrintsExactMatchAndF1_AndAnswersAtTheirOffsets()
    {
        output.WriteLine(trained.Train.ToString());
        Assert.Equal(0, trained.Train.ExitCode);
        Assert.Contains("question-answering", trained.Train.Output);
        foreach (var text in new[] { "ExactMatch", "F1", "Test (10 questions)" }) Assert.Contains(text, trained.Train.Output);
        Assert.Contains("| ExactMatch |", File.ReadAllText(Path.Combine(trained.Folder, "out", "report", "report.md")));

        var evaluate = CliRunner.Run(["evaluate", trained.ModelPath, trained.SquadPath, "--rows", "5"]);
        output.WriteLine(evaluate.ToString());
        Assert.Equal(0, evaluate.ExitCode);
        Assert.Contains("metrics on 5 qu", evaluate.Output);
        Assert.Contains("ExactMatch", evaluate.Output);

        string context = "the good one is w7 and we to you";
        var predict = CliRunner.Run(["predict", trained.ModelPath, "--json", "--context", context, "which one is good", "what is it"]);
        output.WriteLine(predict.ToString());
        Assert.Equal(0, predict.ExitCode);
        var lines = predict.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, lines.Count);
        foreach (var line in lines)
        {
            int start = (int)line["start"]!, end = (int)line["end"]!;
            Assert.Equal(context[start..end], (string)line["answer"]!);
            Assert.InRange((double)line["score"]!, 0, 1);
        }

        var table = CliRunner.Run(["predict", trained.ModelPath], stdin: $"which one is good\t{context}\n");
        output.WriteLine(table.ToString());
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("[", table.Output);
    }

    [Fact]
    public void SquadAnswerStartThatMissesItsText_NamesTheFileAndTheQuestionId()
    {
        string bad = CliAnswerModelFixture.WriteSquad(trained.Folder, "bad.json", 6, seed: 1, badStart: true);
        var run = CliRunner.Run(["train", bad, "--task", "question-answering", "--model", trained.TinyModel]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(bad, run.Error);
        Assert.Contains("question 'q3'", run.Error);
        Assert.DoesNotContain("Fine-tuning", run.Output);
    }

    [Fact]
    public void MultiLabel_TrainEvaluatePredict_PrintMicroMacroF1AndPerLabel_AndLabelsAboveThreshold()
    {
        var run = trained.TrainLabels;
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        foreach (var text in new[] { "multi-label", "MicroF1", "MacroF1", "SubsetAccuracy", "HammingLoss", "Per label", "fruit", "water" })
            Assert.Contains(text, run.Output);
        string report = File.ReadAllText(Path.Combine(trained.Folder, "out", "ml-report", "report.md"));
        Assert.Contains("| label | precision | recall | F1 | support |", report);

        var evaluate = CliRunner.Run(["evaluate", trained.LabelModelPath, trained.LabelsPath]);
        output.WriteLine(evaluate.ToString());
        Assert.Equal(0, evaluate.ExitCode);
        Assert.Contains("multi-label metrics on 60", evaluate.Output);
        Assert.Contains("Per label", evaluate.Output);

        var predict = CliRunner.Run(["predict", trained.LabelModelPath, "--json", "the apple and river", "the stone and chair"]);
        output.WriteLine(predict.ToString());
        Assert.Equal(0, predict.ExitCode);
        var lines = predict.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(2, lines.Count);
        foreach (var line in lines)
        {
            var labels = line["labels"]!.AsArray().Select(l => (string)l!["label"]!).ToList();
            Assert.Equal(string.Join(" ", labels), (string)line["predicted"]!);
            Assert.All(labels, l => Assert.Contains(l, new[] { "fruit", "water" }));
            Assert.Equal(2, line["top"]!.AsArray().Count);
        }
        var table = CliRunner.Run(["predict", trained.LabelModelPath, "the apple and river"]);
        Assert.Equal(0, table.ExitCode);
    }

    [Fact]
    public void MultiLabelTestLabelUnseenInTraining_IsNamedWithItsFileAndRow_BeforeTraining()
    {
        string test = Path.Combine(trained.Folder, "unseen.tsv");
        File.WriteAllText(test, "Text\tLabels\nthe apple\tfruit\nthe rock\tmineral\n");
        var run = CliRunner.Run(["train", trained.LabelsPath, "--task", "multi-label", "--label-column", "Labels", "--label-separator", ",", "--test", test, "--model", trained.TinyModel]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("'mineral'", run.Error);
        Assert.Contains(test, run.Error);
        Assert.Contains("data row 2", run.Error);
        Assert.DoesNotContain("Fine-tuning", run.Output);
    }
}
