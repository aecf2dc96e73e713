// Extractive question answering as a .NET 10 file-based app:
//   dotnet run samples/QuestionAnswering.cs
// It fine-tunes the embedded all-MiniLM-L6-v2 to point at the answer span in a paragraph, on the first 500 of the 1,509
// questions of the bundled SQuAD v1.1 sample (one epoch, bf16 products where the CPU has them), scores the 503 test
// questions with the official SQuAD v1.1 normalisation (EvaluateAnswers), then answers questions about a paragraph of its
// own through a PredictionEngine. It shows the API in a couple of minutes; it is not a usable reader (see the README).
// The directives are those of QuickStart.cs (see its header for why).
#:project ../src/MLNetTuning/MLNetTuning.csproj
#:property UsesTorchBackend=true
#:property PublishAot=false

using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning;

string dataFolder = Path.Combine(SourceFolder(), "data", "squad");
var ml = new MLContext(seed: 1);
// One row a question: Question, Context (the whole paragraph), Answer, AnswerStart (its character offset in Context).
IDataView Load(string file) => ml.Data.LoadFromTextFile<SquadQuestion>(Path.Combine(dataFolder, file), separatorChar: '\t', hasHeader: true, allowQuoting: false);
// The first 500 training questions (the file is in a random order): every step of the API in a third of the time of
// all 1,509, which one epoch would not turn into a usable reader either (RealQuestionAnsweringTests trains two epochs
// on all of them).
var train = ml.Data.TakeRows(Load("train.tsv"), 500);
var test = Load("test.tsv");

var options = new BertFineTuneOptions
{
    Task = BertTask.QuestionAnswering,
    Model = "all-MiniLM-L6-v2",          // embedded: nothing is downloaded
    AnswerStartColumnName = "AnswerStart", // else the answer's first occurrence in the context is taken
    MaxSequenceLength = 256,              // [CLS] question [SEP] context window [SEP]
    DocumentStride = 64,                  // longer paragraphs become windows that share 64 tokens
    BatchSize = 16,
    Epochs = 1,
    LearningRate = 3e-4f,                 // one short epoch: a higher rate than the 1e-4 of the two-epoch real-model test
    Precision = NumericPrecision.Bf16,    // falls back to float32, with a warning, on CPUs without bf16
    Seed = 1,
    Progress = new Progress<TrainingProgress>(p =>
    {
        if (p.Metrics is null && (p.Step % 10 == 0 || p.Step == p.TotalSteps))
            Console.WriteLine($"  step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  {p.ExamplesPerSecond:F1} windows/s");
    }),
};

Console.WriteLine("Fine-tuning all-MiniLM-L6-v2 to answer questions on 500 SQuAD questions (1 epoch, 256 tokens).");
var clock = Stopwatch.StartNew();
var model = ml.MulticlassClassification.Trainers.BertQuestionAnswering(options).Fit(train);
Console.WriteLine($"Trained in {clock.Elapsed.TotalSeconds:F0} s.");

// Answer holds the gold answer; several would be separated by "|||" and the best match counts.
var metrics = ml.MulticlassClassification.EvaluateAnswers(model.Transform(test), "Answer", "PredictedAnswer");
Console.WriteLine($"Test on {metrics.Count} SQuAD questions: exact match {metrics.ExactMatch:F1}  F1 {metrics.F1:F1}");

const string paragraph =
    "The Rhine rises in the Swiss Alps and flows for about 1,230 kilometres through Switzerland, Liechtenstein, Austria, " +
    "Germany and the Netherlands before it reaches the North Sea near Rotterdam. Its largest city is Cologne, and Basel " +
    "marks the point where it becomes navigable for large ships. In 1926 the Rhine carried more freight than any other " +
    "river in Europe.";
using var engine = ml.Model.CreatePredictionEngine<Question, Answer>(model);
foreach (var question in new[] { "Where does the Rhine rise?", "How long is the Rhine?", "Which is the largest city on the Rhine?", "Near which port does the Rhine reach the sea?" })
{
    var answer = engine.Predict(new Question { Text = question, Context = paragraph });
    Console.WriteLine($"Q: {question}\n   A: {answer.PredictedAnswer}  [{answer.PredictedAnswerStart}, {answer.PredictedAnswerStart + answer.PredictedAnswer.Length})  score {answer.Score:F3}");
}

static string SourceFolder([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

/// <summary>A SQuAD question with its paragraph and gold answer (a row of the bundled TSV files).</summary>
internal sealed class SquadQuestion
{
    [LoadColumn(0)] public string Question { get; set; } = "";
    [LoadColumn(1)] public string Context { get; set; } = "";
    [LoadColumn(2)] public string Answer { get; set; } = "";
    [LoadColumn(3)] public int AnswerStart { get; set; }
}

/// <summary>A new question: its text and the paragraph to answer from.</summary>
internal sealed class Question
{
    [ColumnName("Question")] public string Text { get; set; } = "";
    public string Context { get; set; } = "";
}

/// <summary>The answer: the paragraph's own characters, where they start, and the span's probability.</summary>
internal sealed class Answer
{
    public string PredictedAnswer { get; set; } = "";
    public int PredictedAnswerStart { get; set; }
    public float Score { get; set; }
}
