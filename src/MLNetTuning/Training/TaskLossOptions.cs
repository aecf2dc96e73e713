namespace MLNetTuning.Training;

/// <summary>Extra terms of the training loss from the options, each used by the tasks it applies to.</summary>
/// <param name="ClassWeights">One weight per class (multiclass), negative then positive (binary), or one positive weight per label (multi-label).</param>
/// <param name="LabelSmoothing">Multiclass label smoothing.</param>
/// <param name="LabelColumn">The label column's name, for messages.</param>
/// <param name="TuneThresholds">Multi-label: tune each label's threshold on the validation set after training.</param>
internal sealed record TaskLossOptions(float[]? ClassWeights = null, double LabelSmoothing = 0, string LabelColumn = "Label", bool TuneThresholds = false);
