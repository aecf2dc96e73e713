using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning.Training;

namespace MLNetTuning.MlNet;

/// <summary>Reads questions, contexts and answers from a data view for question answering, checking every answer against its context.</summary>
internal static class QuestionAnswerReader
{
    /// <exception cref="ArgumentException">A column is missing or of the wrong type.</exception>
    /// <exception cref="InvalidDataException">A row's answer is not in its context, or its answer start does not point at it.</exception>
    public static QuestionAnswers Read(IDataView data, BertFineTuneOptions options, string dataName)
    {
        var question = TextColumn(data, options.QuestionColumnName, nameof(options.QuestionColumnName), dataName);
        var context = TextColumn(data, options.ContextColumnName, nameof(options.ContextColumnName), dataName);
        var answer = TextColumn(data, options.AnswerColumnName, nameof(options.AnswerColumnName), dataName);
        DataViewSchema.Column? start = null;
        if (options.AnswerStartColumnName is { } startName)
        {
            start = data.Schema.GetColumnOrNull(startName) ?? throw TaggedSentenceReader.Missing(data.Schema, startName, nameof(options.AnswerStartColumnName), dataName);
            if (start.Value.Type != NumberDataViewType.Int32 && start.Value.Type != NumberDataViewType.Int64 && start.Value.Type != NumberDataViewType.Single)
                throw new ArgumentException($"Answer start column '{startName}' (AnswerStartColumnName) of the {dataName} needs Int32, Int64 or Single (a character offset), but it is {start.Value.Type}.", "options");
        }

        var result = new QuestionAnswers();
        using var cursor = data.GetRowCursor(start is { } s ? [question, context, answer, s] : [question, context, answer]);
        var (getQuestion, getContext, getAnswer) = (cursor.GetGetter<ReadOnlyMemory<char>>(question), cursor.GetGetter<ReadOnlyMemory<char>>(context), cursor.GetGetter<ReadOnlyMemory<char>>(answer));
        var getStart = start is { } column ? StartGetter(cursor, column) : null;
        ReadOnlyMemory<char> q = default, c = default, a = default;
        long row = 0;
        while (cursor.MoveNext())
        {
            row++;
            getQuestion(ref q);
            getContext(ref c);
            getAnswer(ref a);
            string contextText = c.ToString(), answerText = a.ToString();
            // An empty answer is "no answer in this context": it trains the [CLS] position.
            if (answerText.Length == 0) { result.Add(q.ToString(), contextText, (0, 0)); continue; }
            int at;
            if (getStart is null)
            {
                at = contextText.IndexOf(answerText, StringComparison.Ordinal);
                if (at < 0)
                    throw new InvalidDataException($"Row {row} of the {dataName}: the answer '{answerText}' ('{options.AnswerColumnName}') does not occur in the context ('{options.ContextColumnName}'). " +
                        "Give the answer exactly as the context spells it (same case and spacing), or an empty answer for a question the context does not answer.");
            }
            else
            {
                double given = getStart();
                if (given != Math.Floor(given) || given < 0 || given + answerText.Length > contextText.Length)
                    throw new InvalidDataException($"Row {row} of the {dataName}: the answer start {given} ('{options.AnswerStartColumnName}') is not a character offset where the answer '{answerText}' " +
                        $"fits in the context of {contextText.Length} characters. Give a whole number from 0 to {Math.Max(0, contextText.Length - answerText.Length)}.");
                at = (int)given;
                if (string.CompareOrdinal(contextText, at, answerText, 0, answerText.Length) != 0)
                    throw new InvalidDataException($"Row {row} of the {dataName}: the answer start {at} ('{options.AnswerStartColumnName}') points at '{contextText.Substring(at, answerText.Length)}', " +
                        $"not at the answer '{answerText}'. Check the offsets (characters, counted from 0).");
            }
            if (string.IsNullOrWhiteSpace(answerText))
                throw new InvalidDataException($"Row {row} of the {dataName}: the answer ('{options.AnswerColumnName}') is only white space; give a word of the context, or an empty answer for no answer.");
            result.Add(q.ToString(), contextText, (at, answerText.Length));
        }
        return result;
    }

    private static DataViewSchema.Column TextColumn(IDataView data, string name, string option, string dataName)
    {
        var column = data.Schema.GetColumnOrNull(name) ?? throw TaggedSentenceReader.Missing(data.Schema, name, option, dataName);
        if (column.Type is not TextDataViewType)
            throw new ArgumentException($"Column '{name}' ({option}) of the {dataName}: question answering needs text, but it is {column.Type}.", "options");
        return column;
    }

    private static Func<double> StartGetter(DataViewRowCursor cursor, DataViewSchema.Column column)
    {
        if (column.Type == NumberDataViewType.Int32) { var get = cursor.GetGetter<int>(column); int v = 0; return () => { get(ref v); return v; }; }
        if (column.Type == NumberDataViewType.Int64) { var get = cursor.GetGetter<long>(column); long v = 0; return () => { get(ref v); return v; }; }
        var getSingle = cursor.GetGetter<float>(column);
        float f = 0;
        return () => { getSingle(ref f); return f; };
    }
}
