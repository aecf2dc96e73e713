using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetTuning.Training;

/// <summary>SQuAD's exact match and token F1 (evaluate-v1.1.py: normalize_answer, exact_match_score, f1_score, max over gold answers).</summary>
internal static class AnswerEvaluator
{
    /// <exception cref="ArgumentException">A column is missing or is not text.</exception>
    public static AnswerMetrics Evaluate(IDataView data, string answerColumnName, string predictedAnswerColumnName)
    {
        var gold = TextColumn(data.Schema, answerColumnName, nameof(answerColumnName));
        var predicted = TextColumn(data.Schema, predictedAnswerColumnName, nameof(predictedAnswerColumnName));
        using var cursor = data.GetRowCursor(gold.Index == predicted.Index ? [gold] : [gold, predicted]);
        var (getGold, getPredicted) = (cursor.GetGetter<ReadOnlyMemory<char>>(gold), cursor.GetGetter<ReadOnlyMemory<char>>(predicted));
        ReadOnlyMemory<char> g = default, p = default;
        double exact = 0, f1 = 0;
        int rows = 0;
        while (cursor.MoveNext())
        {
            getGold(ref g);
            getPredicted(ref p);
            var (e, f) = Score(p.ToString(), g.ToString().Split(AnswerMetrics.GoldSeparator));
            (exact, f1, rows) = (exact + e, f1 + f, rows + 1);
        }
        return rows == 0 ? new AnswerMetrics(0, 0, 0) : new AnswerMetrics(100 * exact / rows, 100 * f1 / rows, rows);
    }

    /// <summary>The best exact match (0 or 1) and the best F1 (0 to 1) of a prediction over the gold answers.</summary>
    public static (double ExactMatch, double F1) Score(string prediction, IReadOnlyList<string> golds)
    {
        var predicted = Normalize(prediction);
        double exact = 0, f1 = 0;
        foreach (var gold in golds)
        {
            var normalized = Normalize(gold);
            exact = Math.Max(exact, normalized == predicted ? 1 : 0);
            f1 = Math.Max(f1, TokenF1(predicted, normalized));
        }
        return (exact, f1);
    }

    /// <summary>SQuAD's normalize_answer: lower case, no punctuation, no articles, single spaces.</summary>
    public static string Normalize(string text)
    {
        var kept = new StringBuilder(text.Length);
        // Python's string.punctuation is ASCII punctuation only.
        foreach (char c in text.ToLowerInvariant())
            if (!(c < 128 && char.IsPunctuation(c) || c is '$' or '+' or '<' or '=' or '>' or '^' or '`' or '|' or '~')) kept.Append(c);
        var words = kept.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(w => w is not ("a" or "an" or "the"));
        return string.Join(' ', words);
    }

    private static double TokenF1(string predicted, string gold)
    {
        var (p, g) = (predicted.Split(' ', StringSplitOptions.RemoveEmptyEntries), gold.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        // SQuAD 2.0: when either side is empty (no answer), F1 is 1 if both are, else 0.
        if (p.Length == 0 || g.Length == 0) return p.Length == g.Length ? 1 : 0;
        var counts = g.GroupBy(w => w).ToDictionary(w => w.Key, w => w.Count());
        int common = 0;
        foreach (var word in p)
            if (counts.TryGetValue(word, out int left) && left > 0) { counts[word] = left - 1; common++; }
        if (common == 0) return 0;
        double precision = (double)common / p.Length, recall = (double)common / g.Length;
        return 2 * precision * recall / (precision + recall);
    }

    private static DataViewSchema.Column TextColumn(DataViewSchema schema, string name, string parameter)
    {
        var column = schema.GetColumnOrNull(name) ?? throw new ArgumentException(
            $"The data has no column '{name}'. Its columns are: {string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"{c.Name} ({c.Type})"))}.", parameter);
        if (column.Type is not TextDataViewType)
            throw new ArgumentException($"Column '{name}' is {column.Type}, but answers are compared as text.", parameter);
        return column;
    }
}
