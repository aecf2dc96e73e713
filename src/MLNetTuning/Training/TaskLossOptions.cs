namespace MLNetTuning.Training;

/// <summary>Extra terms of the training loss from the options, each used by the tasks it applies to.</summary>
/// <param name="ClassWeights">One weight per class (multiclass), or negative then positive (binary).</param>
/// <param name="LabelSmoothing">Multiclass label smoothing.</param>
/// <param name="LabelColumn">The label column's name, for messages.</param>
internal sealed record TaskLossOptions(float[]? ClassWeights = null, double LabelSmoothing = 0, string LabelColumn = "Label");
