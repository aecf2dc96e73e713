using System.Globalization;
using System.Text.Json;
using Microsoft.ML;

namespace MLNetTuning.Cli.Data;

/// <summary>
/// One question about a context. <see cref="Gold"/> holds every gold answer (SQuAD test questions have several; none: no
/// answer); <see cref="Answer"/> and <see cref="AnswerStart"/> are the first, which training uses.
/// </summary>
internal sealed record QuestionExample(string Id, string Question, string Context, IReadOnlyList<string> Gold, int AnswerStart)
{
    public string Answer => Gold.Count > 0 ? Gold[0] : "";
}

/// <summary>
/// Where the questions of a file are: a SQuAD JSON file (data[].paragraphs[].context, qas[].id/question/answers[].text/answer_start),
/// or a TSV/CSV file with question, context, answer and optional answer-start columns. Every answer is checked against its context.
/// </summary>
internal sealed record AnswerColumns(string Question = "Question", string Context = "Context", string Answer = "Answer", string? AnswerStart = null)
{
    public List<QuestionExample> Read(string path, string option) =>
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? ReadSquad(path, option) : ReadTable(path, option);

    private static List<QuestionExample> ReadSquad(string path, string option)
    {
        if (!File.Exists(path)) throw new CliException($"The SQuAD file '{path}' ({option}) does not exist.");
        JsonDocument document;
        try { document = JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new CliException($"The SQuAD file '{path}' ({option}) is not valid JSON: {e.Message}", e); }
        using (document)
        {
            string where = $"The SQuAD file '{path}' ({option})";
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw new CliException($"{where} has no \"data\" array; SQuAD files hold data[].paragraphs[].context and .qas[].");
            var examples = new List<QuestionExample>();
            foreach (var article in data.EnumerateArray())
            foreach (var paragraph in Items(article, "paragraphs", where))
            {
                string context = Text(paragraph, "context", where);
                foreach (var qa in Items(paragraph, "qas", where))
                {
                    string id = qa.TryGetProperty("id", out var idElement) ? idElement.ToString() : $"#{examples.Count + 1}";
                    string question = Text(qa, "question", $"{where}, question '{id}',");
                    var gold = new List<string>();
                    int first = 0;
                    if (qa.TryGetProperty("answers", out var answers) && answers.ValueKind == JsonValueKind.Array)
                        foreach (var answer in answers.EnumerateArray())
                        {
                            string text = Text(answer, "text", $"{where}, question '{id}', answer");
                            if (!answer.TryGetProperty("answer_start", out var startElement) || !startElement.TryGetInt32(out int start))
                                throw new CliException($"{where}, question '{id}': the answer '{text}' has no whole-number \"answer_start\".");
                            Check(context, text, start, $"{where}, question '{id}'");
                            if (gold.Count == 0) first = start;
                            if (!gold.Contains(text, StringComparer.Ordinal)) gold.Add(text);
                        }
                    examples.Add(new QuestionExample(id, question, context, gold, first));
                }
            }
            return examples;
        }
    }

    private List<QuestionExample> ReadTable(string path, string option)
    {
        var file = DataFile.Read(path, option);
        int question = file.Column(Question, "--question-column"), context = file.Column(Context, "--context-column"), answer = file.Column(Answer, "--answer-column");
        int start = AnswerStart is not null ? file.Column(AnswerStart, "--answer-start-column") : Array.IndexOf(file.Header, "AnswerStart");
        var examples = new List<QuestionExample>(file.Rows.Count);
        foreach (var fields in file.Rows)
        {
            string where = $"The data file '{path}' ({option}), data row {examples.Count + 1}";
            var gold = fields[answer].Split(AnswerMetrics.GoldSeparator, StringSplitOptions.RemoveEmptyEntries).ToList();
            int at = 0;
            if (gold.Count > 0 && start >= 0)
            {
                if (!int.TryParse(fields[start], NumberStyles.Integer, CultureInfo.InvariantCulture, out at))
                    throw new CliException($"{where}: the answer start '{fields[start]}' ('{file.Header[start]}') is not a whole number.");
                Check(fields[context], gold[0], at, where);
            }
            else if (gold.Count > 0)
            {
                at = fields[context].IndexOf(gold[0], StringComparison.Ordinal);
                if (at < 0) throw new CliException($"{where}: the answer '{gold[0]}' does not occur in the context ('{Context}').");
            }
            examples.Add(new QuestionExample($"{examples.Count + 1}", fields[question], fields[context], gold, at));
        }
        return examples;
    }

    private static void Check(string context, string answer, int start, string where)
    {
        if (start < 0 || start + answer.Length > context.Length || string.CompareOrdinal(context, start, answer, 0, answer.Length) != 0)
            throw new CliException($"{where}: the answer '{answer}' is not at its answer_start {start} in the context" +
                (start >= 0 && start < context.Length ? $" (which has '{context.Substring(start, Math.Min(answer.Length, context.Length - start))}' there)." : $" of {context.Length} characters."));
    }

    private static IEnumerable<JsonElement> Items(JsonElement parent, string name, string where) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var array) && array.ValueKind == JsonValueKind.Array
            ? array.EnumerateArray()
            : throw new CliException($"{where}: an entry has no \"{name}\" array.");

    private static string Text(JsonElement parent, string name, string where) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var text) && text.ValueKind == JsonValueKind.String
            ? text.GetString()!
            : throw new CliException($"{where} has no \"{name}\" text.");
}

/// <summary>ML.NET views of questions with the fixed column names Question, Context, Answer and AnswerStart.</summary>
internal static class AnswerViews
{
    public const string QuestionColumn = "Question", ContextColumn = "Context", AnswerColumn = "Answer", AnswerStartColumn = "AnswerStart";

    /// <summary>Training and validation rows carry the first answer and its start; <paramref name="allGold"/> rows carry every gold answer, joined for EvaluateAnswers.</summary>
    public static IDataView Labeled(MLContext ml, IEnumerable<QuestionExample> examples, bool allGold) =>
        ml.Data.LoadFromEnumerable(examples.Select(e => new LabeledRow(e.Question, e.Context, allGold ? string.Join(AnswerMetrics.GoldSeparator, e.Gold) : e.Answer, e.AnswerStart)).ToList());

    public static IDataView Unlabeled(MLContext ml, IEnumerable<(string Question, string Context)> inputs) =>
        ml.Data.LoadFromEnumerable(inputs.Select(i => new InputRow(i.Question, i.Context)).ToList());

    public static DataViewSchema InputSchema(MLContext ml) => Unlabeled(ml, []).Schema;

    private sealed class LabeledRow(string question, string context, string answer, int answerStart)
    {
        public string Question { get; set; } = question;
        public string Context { get; set; } = context;
        public string Answer { get; set; } = answer;
        public int AnswerStart { get; set; } = answerStart;
    }

    private sealed class InputRow(string question, string context)
    {
        public string Question { get; set; } = question;
        public string Context { get; set; } = context;
    }
}
