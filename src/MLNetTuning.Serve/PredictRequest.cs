using System.Text.Json;

namespace MLNetTuning.Serve;

/// <summary>
/// Reads the body of <c>POST /predict</c> into inputs, with a 400 or 413 that names the property and what was found for
/// anything else. The shapes: <c>{"texts": [...]}</c>, <c>{"pairs": [["a", "b"], ...]}</c> or
/// <c>{"questions": [{"question": "...", "context": "..."}, ...]}</c>, whichever the model takes (<see cref="ModelCard.Input"/>).
/// </summary>
internal static class PredictRequest
{
    public static List<PredictInput> Parse(ReadOnlyMemory<byte> body, ModelCard card, ServeSettings limits)
    {
        JsonDocument document;
        try { document = JsonDocument.Parse(body); }
        catch (JsonException e) { throw Bad($"The body is not valid JSON: {e.Message} Expected for this model: {card.ExampleRequest}"); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad($"The body is a JSON {Kind(root)}; expected an object such as {card.ExampleRequest}");
            string expected = card.InputProperty;
            foreach (var property in root.EnumerateObject())
                if (property.Name != expected)
                    throw Bad($"Unknown property '{property.Name}': this {card.Task} model takes '{expected}', as in {card.ExampleRequest}");
            if (!root.TryGetProperty(expected, out var items))
                throw Bad($"The property '{expected}' is missing: this {card.Task} model takes {card.ExampleRequest}");
            if (items.ValueKind != JsonValueKind.Array) throw Bad($"'{expected}' is a JSON {Kind(items)}; expected an array, as in {card.ExampleRequest}");
            int count = items.GetArrayLength();
            if (count == 0) throw Bad($"'{expected}' is empty; send at least one input.");
            if (count > limits.MaxInputs)
                throw new RequestException(413, $"'{expected}' holds {count} inputs; the limit is {limits.MaxInputs} per request (--max-inputs). Split the request.");
            var inputs = new List<PredictInput>(count);
            int i = 0;
            foreach (var item in items.EnumerateArray())
            {
                string where = $"{expected}[{i++}]";
                inputs.Add(card.Input switch
                {
                    InputKind.Pairs => Pair(item, where, limits),
                    InputKind.Questions => Question(item, where, limits),
                    _ => new PredictInput(Text(item, where, limits)),
                });
            }
            return inputs;
        }
    }

    private static PredictInput Pair(JsonElement item, string where, ServeSettings limits)
    {
        if (item.ValueKind != JsonValueKind.Array || item.GetArrayLength() != 2)
            throw Bad($"{where} is {Describe(item)}; expected an array of two strings, [\"first text\", \"second text\"].");
        return new PredictInput(Text(item[0], where + "[0]", limits), Text(item[1], where + "[1]", limits));
    }

    private static PredictInput Question(JsonElement item, string where, ServeSettings limits)
    {
        if (item.ValueKind != JsonValueKind.Object) throw Bad($"{where} is {Describe(item)}; expected an object {{\"question\": \"...\", \"context\": \"...\"}}.");
        foreach (var property in item.EnumerateObject())
            if (property.Name is not ("question" or "context")) throw Bad($"{where} has an unknown property '{property.Name}'; expected 'question' and 'context'.");
        string Field(string name) => item.TryGetProperty(name, out var value)
            ? Text(value, $"{where}.{name}", limits)
            : throw Bad($"{where} lacks '{name}'; expected {{\"question\": \"...\", \"context\": \"...\"}}.");
        return new PredictInput(Field("question"), Field("context"));
    }

    private static string Text(JsonElement item, string where, ServeSettings limits)
    {
        if (item.ValueKind != JsonValueKind.String) throw Bad($"{where} is {Describe(item)}; expected a string.");
        string text = item.GetString()!;
        if (text.Length > limits.MaxTextLength)
            throw Bad($"{where} has {text.Length} characters; the limit is {limits.MaxTextLength} (--max-text-length). Shorten or split the text.");
        return text;
    }

    private static RequestException Bad(string message) => new(400, message);

    private static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Null => "null",
        JsonValueKind.Array => $"an array of {e.GetArrayLength()}",
        JsonValueKind.Object => "an object",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        _ => e.GetRawText(),
    };
}
