using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>Range checks of <see cref="BertFineTuneOptions"/>, each naming the option, its value and what is allowed.</summary>
internal static class OptionChecks
{
    public static void Validate(BertFineTuneOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        void Check(bool ok, string option, object? value, string allowed)
        {
            if (!ok) throw new ArgumentOutOfRangeException(nameof(options), value, $"BertFineTuneOptions.{option} is {value}; it must be {allowed}.");
        }
        Check(!string.IsNullOrWhiteSpace(options.Model), nameof(options.Model), options.Model, "an embedded model name, a Hugging Face folder or a cached model id");
        Check(!string.IsNullOrEmpty(options.TextColumnName), nameof(options.TextColumnName), options.TextColumnName, "a column name");
        Check(!string.IsNullOrEmpty(options.LabelColumnName), nameof(options.LabelColumnName), options.LabelColumnName, "a column name");
        Check(options.MaxSequenceLength >= (options.SecondTextColumnName is null ? 3 : 4), nameof(options.MaxSequenceLength), options.MaxSequenceLength, "at least 3 (4 for pairs): the special tokens take 2 (3)");
        Check(options.BatchSize >= 1, nameof(options.BatchSize), options.BatchSize, "at least 1");
        Check(options.Epochs >= 1, nameof(options.Epochs), options.Epochs, "at least 1");
        Check(options.LearningRate >= 0 && float.IsFinite(options.LearningRate), nameof(options.LearningRate), options.LearningRate, "a finite number ≥ 0");
        Check(options.WeightDecay >= 0, nameof(options.WeightDecay), options.WeightDecay, "≥ 0");
        Check(options.AdamBeta1 is >= 0 and < 1, nameof(options.AdamBeta1), options.AdamBeta1, "in [0, 1)");
        Check(options.AdamBeta2 is >= 0 and < 1, nameof(options.AdamBeta2), options.AdamBeta2, "in [0, 1)");
        Check(options.AdamEpsilon > 0, nameof(options.AdamEpsilon), options.AdamEpsilon, "> 0");
        Check(options.WarmupRatio is >= 0 and <= 1, nameof(options.WarmupRatio), options.WarmupRatio, "in [0, 1]");
        Check(options.WarmupSteps is null or >= 0, nameof(options.WarmupSteps), options.WarmupSteps, "≥ 0 or null");
        Check(options.MaxGradientNorm >= 0, nameof(options.MaxGradientNorm), options.MaxGradientNorm, "≥ 0 (0 turns clipping off)");
        Check(options.GradientAccumulationSteps >= 1, nameof(options.GradientAccumulationSteps), options.GradientAccumulationSteps, "at least 1");
        foreach (var (name, value) in new[] { (nameof(options.HiddenDropout), options.HiddenDropout), (nameof(options.AttentionDropout), options.AttentionDropout), (nameof(options.ClassifierDropout), options.ClassifierDropout) })
            Check(value is null or >= 0 and < 1, name, value, "in [0, 1) or null");
        Check(options.FreezeBottomLayers >= 0, nameof(options.FreezeBottomLayers), options.FreezeBottomLayers, "≥ 0");
        Check(options.LabelSmoothing is >= 0 and < 1, nameof(options.LabelSmoothing), options.LabelSmoothing, "in [0, 1)");
        Check(options.ClassWeights is null || options.ClassWeights.All(w => w > 0 && float.IsFinite(w)), nameof(options.ClassWeights), options.ClassWeights is null ? null : string.Join(", ", options.ClassWeights), "positive finite weights");
        Check(options.ValidationFraction is >= 0 and < 1, nameof(options.ValidationFraction), options.ValidationFraction, "in [0, 1)");
        Check(options.EvaluateEveryNSteps >= 0, nameof(options.EvaluateEveryNSteps), options.EvaluateEveryNSteps, "≥ 0");
        Check(options.EarlyStoppingPatience is null or >= 1, nameof(options.EarlyStoppingPatience), options.EarlyStoppingPatience, "≥ 1 or null");
        Check(options.EarlyStoppingMinDelta >= 0, nameof(options.EarlyStoppingMinDelta), options.EarlyStoppingMinDelta, "≥ 0");
        Check(options.NumberOfThreads is null or >= 1, nameof(options.NumberOfThreads), options.NumberOfThreads, "≥ 1 or null");
        Check(options.ScoringBatchSize >= 1, nameof(options.ScoringBatchSize), options.ScoringBatchSize, "at least 1");
        Check(options.WindowStride >= 0, nameof(options.WindowStride), options.WindowStride, "≥ 0 (sub-tokens shared by consecutive windows)");
        Check(options.DocumentStride >= 0, nameof(options.DocumentStride), options.DocumentStride, "≥ 0 (context tokens shared by consecutive windows)");
        Check(options.MaxAnswerLength >= 1, nameof(options.MaxAnswerLength), options.MaxAnswerLength, "at least 1");
        Check(options.TopKAnswers >= 1, nameof(options.TopKAnswers), options.TopKAnswers, "at least 1");
        if (options.Task == BertTask.QuestionAnswering)
            foreach (var (name, value) in new[] { (nameof(options.QuestionColumnName), options.QuestionColumnName), (nameof(options.ContextColumnName), options.ContextColumnName), (nameof(options.AnswerColumnName), options.AnswerColumnName) })
                Check(!string.IsNullOrEmpty(value), name, value, "a column name");
        Check(options.CheckpointEverySteps >= 0, nameof(options.CheckpointEverySteps), options.CheckpointEverySteps, "≥ 0 (0 writes checkpoints at epoch ends only)");
        Check(options.KeepCheckpoints >= 1, nameof(options.KeepCheckpoints), options.KeepCheckpoints, "at least 1");
        if (options.ResumeFromCheckpoint == BertFineTuneOptions.LatestCheckpoint && options.CheckpointDirectory is null)
            throw new ArgumentException($"BertFineTuneOptions.ResumeFromCheckpoint is \"{BertFineTuneOptions.LatestCheckpoint}\" (the newest checkpoint in the checkpoint folder), but BertFineTuneOptions.CheckpointDirectory is not set. " +
                "Set it to the folder the run wrote its checkpoints to, or give ResumeFromCheckpoint the path of one checkpoint folder.", nameof(options));
        if (options.ResumeFromCheckpoint is { Length: 0 })
            throw new ArgumentException($"BertFineTuneOptions.ResumeFromCheckpoint is empty; give a checkpoint folder, \"{BertFineTuneOptions.LatestCheckpoint}\", or null.", nameof(options));
        // Checked here as well as in the loop, so that a metric that does not fit the task fails at construction, not after loading the model.
        FineTuneTasks.Describe(options.Task).Score(options.ValidationMetric);
        if (options.EarlyStoppingPatience is not null && options.ValidationSet is null && options.ValidationFraction == 0)
            throw new ArgumentException("BertFineTuneOptions.EarlyStoppingPatience is set, but there is no validation data to watch. Set ValidationSet or ValidationFraction.", nameof(options));
        if (options.TuneThresholds && options.Task != BertTask.MultiLabelClassification)
            throw new ArgumentException($"BertFineTuneOptions.TuneThresholds applies to BertTask.MultiLabelClassification only, but the task is {options.Task}. Leave it false.", nameof(options));
        if (options.TuneThresholds && options.ValidationSet is null && options.ValidationFraction == 0)
            throw new ArgumentException("BertFineTuneOptions.TuneThresholds is set, but there is no validation data to tune on. Set ValidationSet or ValidationFraction.", nameof(options));
    }
}

/// <summary>Maps the device option onto a torch device, failing clearly when CUDA is asked for but absent.</summary>
internal static class TorchDevices
{
    public static Device Resolve(TorchDevice device)
    {
        Native.TorchNativeLoader.EnsureLoaded();
        if (device == TorchDevice.Cpu) return CPU;
        if (!cuda.is_available())
            throw new ArgumentException("BertFineTuneOptions.Device is Cuda, but no CUDA device is available: this app references the CPU backend (TorchSharp-cpu) " +
                "or the machine has no GPU. Build the app with -p:TorchBackend=cuda on a machine with an NVIDIA GPU and driver, or use TorchDevice.Cpu.", "options");
        return CUDA;
    }
}

/// <summary>Decides whether bfloat16 mixed precision can run here, falling back to float32 with a warning where it cannot.</summary>
internal static class TorchPrecision
{
    public static NumericPrecision Resolve(NumericPrecision requested, Device device, Action<string> warn, Func<string?>? cpuFlags = null, string activity = "training")
    {
        if (requested != NumericPrecision.Bf16 || device.type != TorchSharp.DeviceType.CPU) return requested;
        // Without bfloat16 instructions libtorch emulates bf16 products, which is slower than float32 and no more accurate.
        if (CpuHasBf16(cpuFlags)) return requested;
        warn($"BertFineTuneOptions.Precision is Bf16, but this CPU has no bfloat16 instructions (avx512_bf16 or amx_bf16 in /proc/cpuinfo); {activity} in Fp32 instead.");
        return NumericPrecision.Fp32;
    }

    /// <summary>Whether the CPU has bfloat16 matrix instructions (AVX512-BF16 or AMX-BF16); reads no torch state.</summary>
    public static bool CpuHasBf16(Func<string?>? cpuFlags = null) =>
        ((cpuFlags ?? ReadCpuFlags)() ?? "").Split(' ', '\t').Any(f => f is "avx512_bf16" or "amx_bf16");

    private static string? ReadCpuFlags()
    {
        // Linux names the instruction sets in /proc/cpuinfo; elsewhere the CPU is assumed to have them and libtorch decides.
        if (!OperatingSystem.IsLinux()) return "avx512_bf16";
        try { return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)); }
        catch (IOException) { return null; }
    }
}
