namespace MLNetTuning.Tagging;

/// <summary>A token model's reading of one text: its entities (null when the tags name no entities, as POS tags), and one tag per word.</summary>
internal sealed record TagPrediction(string Text, IReadOnlyList<EntitySpan>? Entities, IReadOnlyList<string> Tags)
{
    [System.Text.Json.Serialization.JsonIgnore] public IReadOnlyList<WordSpan> Words { get; init; } = [];
    [System.Text.Json.Serialization.JsonIgnore] public IReadOnlyList<float> Scores { get; init; } = [];
}
