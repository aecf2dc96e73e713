using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MLNetTuning.Checkpoints;
using MLNetTuning.IO;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>Where the loop writes checkpoints, how often, how many it keeps, and what it resumes from (null, "latest" or a folder).</summary>
internal sealed record CheckpointSettings(string Directory, int EveryNSteps, int Keep, string? ResumeFrom);

/// <summary>
/// One checkpoint folder: <c>model.safetensors</c> (the weights as they train, float32), the optimizer's state
/// (<c>optimizer.safetensors</c>, or <c>optimizer.bin</c> for TorchSharp's AdamW), <c>best.safetensors</c> (the best
/// evaluation's weights, when there is one), <c>trainer.json</c> (<see cref="TrainerRecord"/>) and, written last,
/// <c>manifest.json</c> with the size and SHA-256 of every other file.
/// </summary>
/// <remarks>
/// The folder is filled under a temp name and renamed in whole (<see cref="AtomicFolder"/>), so a kill leaves either a
/// complete checkpoint or a temp folder that is never read. The manifest catches what the rename cannot: a file system
/// without atomic renames, or a file that a crash or a copy left short.
/// </remarks>
internal static class TrainingCheckpoint
{
    public const string FolderPrefix = "checkpoint-";
    private const string ModelFile = "model.safetensors", BestFile = "best.safetensors", TrainerFile = "trainer.json", ManifestFile = "manifest.json";
    private const int Format = 1;

    // Losses of skipped steps are NaN, which plain JSON cannot hold.
    private static readonly JsonSerializerOptions Json = new() { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, WriteIndented = true };

    /// <summary>Writes a checkpoint of the run as it stands now into <c>checkpoint-{step}</c>, then deletes all but the newest <paramref name="keep"/>.</summary>
    public static string Write(string directory, int keep, BertTaskModel model, IFineTuneOptimizer optimizer, TrainerState state, TrainerControl control,
        bool epochEnded, Dictionary<string, Tensor>? bestWeights, IReadOnlyDictionary<string, string> settings)
    {
        string folder = Path.Combine(Path.GetFullPath(directory), $"{FolderPrefix}{state.Step:D8}");
        AtomicFolder.Write(folder, staging =>
        {
            SafeTensors.Save(Path.Combine(staging, ModelFile), model.state_dict());
            if (bestWeights is not null) SafeTensors.Save(Path.Combine(staging, BestFile), bestWeights);
            optimizer.Save(staging);
            var history = state.History;
            var record = new TrainerRecord
            {
                Format = Format,
                Step = state.Step,
                Epoch = state.Epoch,
                StepInEpoch = state.StepInEpoch,
                EpochEnded = epochEnded,
                Stopped = control.ShouldStop && !control.Cancelled,
                StoppedEarly = history.StoppedEarly,
                ExamplesSeen = state.ExamplesSeen,
                LastLoss = state.LastLoss,
                LearningRate = state.LearningRate,
                ElapsedSeconds = state.Elapsed.TotalSeconds,
                TorchGenerator = Convert.ToBase64String(GeneratorState()),
                Threads = get_num_threads(),
                Steps = [.. history.StepList],
                Evaluations = [.. history.EvaluationList],
                BestEvaluation = history.Best is null ? null : history.EvaluationList.IndexOf(history.Best),
                EarlyStoppingReference = state.EarlyStoppingReference?.ToDictionary(),
                EvaluationsWithoutImprovement = state.EvaluationsWithoutImprovement,
                NonFiniteSteps = [.. history.NonFiniteStepList],
                Settings = new(settings.ToDictionary(), StringComparer.Ordinal),
            };
            WriteFile(Path.Combine(staging, TrainerFile), JsonSerializer.SerializeToUtf8Bytes(record, Json));
            // Last: a folder whose manifest is complete had every file complete before it.
            var manifest = new SortedDictionary<string, ManifestEntry>(StringComparer.Ordinal);
            foreach (var file in Directory.GetFiles(staging).Order(StringComparer.Ordinal))
                manifest[Path.GetFileName(file)] = new ManifestEntry(new FileInfo(file).Length, Hash(file));
            WriteFile(Path.Combine(staging, ManifestFile), JsonSerializer.SerializeToUtf8Bytes(manifest, Json));
        });
        Prune(directory, keep);
        return folder;
    }

    /// <summary>
    /// The checkpoint to resume from: the folder <paramref name="resumeFrom"/> names (which must be complete), or with
    /// "latest" the newest complete one in <paramref name="directory"/>, skipping damaged ones with a warning; null when
    /// "latest" finds no checkpoint at all.
    /// </summary>
    public static string? Find(string? directory, string resumeFrom, ITrainingLog log)
    {
        if (resumeFrom != BertFineTuneOptions.LatestCheckpoint)
        {
            if (!Directory.Exists(resumeFrom))
                throw new DirectoryNotFoundException($"BertFineTuneOptions.ResumeFromCheckpoint is '{resumeFrom}', which is not a folder. Give a checkpoint folder " +
                    $"({FolderPrefix}NNNNNNNN in the CheckpointDirectory) or \"{BertFineTuneOptions.LatestCheckpoint}\".");
            Verify(resumeFrom);
            return Path.GetFullPath(resumeFrom);
        }
        var candidates = List(directory!);
        if (candidates.Count == 0)
        {
            log.Info($"no checkpoint in '{directory}' to resume from; starting from the beginning");
            return null;
        }
        var damaged = new List<string>();
        foreach (var (_, folder) in candidates.AsEnumerable().Reverse())
        {
            try
            {
                Verify(folder);
                if (damaged.Count > 0) log.Warning($"resuming from the previous checkpoint, '{folder}'");
                return folder;
            }
            catch (InvalidDataException e)
            {
                log.Warning($"skipping a damaged checkpoint: {e.Message}");
                damaged.Add(e.Message);
            }
        }
        throw new InvalidDataException($"Every checkpoint in '{directory}' is damaged, so there is nothing to resume from:\n  {string.Join("\n  ", damaged)}\n" +
            "Delete them to start over, or set ResumeFromCheckpoint to null.");
    }

    /// <summary>Checks every file of a checkpoint folder against its manifest.</summary>
    /// <exception cref="InvalidDataException">A file is missing, has another size or hash, or the manifest itself is missing or unreadable.</exception>
    public static void Verify(string folder)
    {
        string manifestPath = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifestPath))
            throw new InvalidDataException($"{folder}: has no {ManifestFile}, which is written last; the checkpoint is incomplete (written by a process that was killed, or not a checkpoint).");
        SortedDictionary<string, ManifestEntry>? manifest;
        try { manifest = JsonSerializer.Deserialize<SortedDictionary<string, ManifestEntry>>(File.ReadAllBytes(manifestPath), Json); }
        catch (JsonException e) { throw new InvalidDataException($"{manifestPath}: is not valid JSON ({e.Message}); the checkpoint is damaged.", e); }
        if (manifest is null || !manifest.ContainsKey(TrainerFile) || !manifest.ContainsKey(ModelFile))
            throw new InvalidDataException($"{manifestPath}: does not list {ModelFile} and {TrainerFile}; the checkpoint is damaged.");
        foreach (var (name, expected) in manifest)
        {
            // Names come from the file: only plain file names inside the folder are accepted.
            if (name != Path.GetFileName(name) || name is "." or "..")
                throw new InvalidDataException($"{manifestPath}: lists '{name}', which is not a file name in the checkpoint folder.");
            string path = Path.Combine(folder, name);
            if (!File.Exists(path))
                throw new InvalidDataException($"{path}: is listed in the manifest but missing; the checkpoint is incomplete.");
            long length = new FileInfo(path).Length;
            if (length != expected.Bytes)
                throw new InvalidDataException($"{path}: is {length} bytes, but the manifest says {expected.Bytes}; the checkpoint is torn or truncated.");
            if (Hash(path) != expected.Sha256)
                throw new InvalidDataException($"{path}: its SHA-256 differs from the manifest's; the checkpoint is damaged.");
        }
    }

    /// <summary>Reads trainer.json of a verified checkpoint and checks that it was written by a run with these settings.</summary>
    public static TrainerRecord ReadRecord(string folder, IReadOnlyDictionary<string, string> settings, ITrainingLog log)
    {
        string path = Path.Combine(folder, TrainerFile);
        TrainerRecord record;
        try { record = JsonSerializer.Deserialize<TrainerRecord>(File.ReadAllBytes(path), Json) ?? throw new JsonException("the file holds null"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: cannot be read ({e.Message}).", e); }
        if (record.Format != Format)
            throw new InvalidDataException($"{path}: has format {record.Format}; this version of MLNetTuning reads format {Format}. Resume with the version that wrote it.");
        var changed = settings.Keys.Union(record.Settings.Keys).Order(StringComparer.Ordinal)
            .Select(key => (Key: key, Then: record.Settings.GetValueOrDefault(key, "(none)"), Now: settings.GetValueOrDefault(key, "(none)")))
            .Where(d => d.Then != d.Now).ToList();
        // Lowering the learning rate or the clip is how a diverged run is rescued from its last good checkpoint; anything
        // else (batches, schedule length, data, model) would make the checkpoint's position meaningless.
        foreach (var (key, then, now) in changed.Where(d => Adjustable.Contains(d.Key)))
            log.Warning($"resuming with {key} {now} instead of the checkpoint's {then}: training continues from '{folder}', but no longer as the uninterrupted run would");
        var differences = changed.Where(d => !Adjustable.Contains(d.Key)).Select(d => $"{d.Key}: {d.Then} in the checkpoint, {d.Now} now").ToList();
        if (differences.Count > 0)
            throw new ArgumentException($"Cannot resume from the checkpoint '{folder}': it was written by a run with other settings, and continuing it with these would not " +
                $"be the same run.\n  {string.Join("\n  ", differences)}\nResume with the settings it was written with, or start a new run (another " +
                "CheckpointDirectory, or ResumeFromCheckpoint null).", "options");
        if (record.Threads != get_num_threads())
            log.Warning($"the checkpoint '{folder}' was written with {record.Threads} torch threads and this run has {get_num_threads()}: training continues correctly, " +
                "but the result is not bit-identical to an uninterrupted run (set NumberOfThreads to match)");
        return record;
    }

    /// <summary>Loads the weights, the optimizer and the best weights of a verified checkpoint; returns the best weights or null.</summary>
    public static Dictionary<string, Tensor>? LoadTensors(string folder, BertTaskModel model, IFineTuneOptimizer optimizer)
    {
        CopyInto(model.state_dict(), Path.Combine(folder, ModelFile));
        optimizer.Load(folder);
        string best = Path.Combine(folder, BestFile);
        if (!File.Exists(best)) return null;
        var weights = SafeTensors.Load(best, floatDType: null);
        var names = model.state_dict().Keys;
        if (!weights.Keys.ToHashSet().SetEquals(names))
        {
            foreach (var t in weights.Values) t.Dispose();
            throw new InvalidDataException($"{best}: its tensor names differ from the model's; the checkpoint was written for another model.");
        }
        return weights;
    }

    /// <summary>Puts the state a checkpoint recorded back into the trainer's state and history.</summary>
    public static void Restore(TrainerRecord record, TrainerState state, TrainerControl control)
    {
        var history = state.History;
        state.Step = record.Step;
        state.Epoch = record.Epoch;
        state.StepInEpoch = record.StepInEpoch;
        state.ExamplesSeen = record.ExamplesSeen;
        state.LastLoss = record.LastLoss;
        state.LearningRate = record.LearningRate;
        state.Elapsed = TimeSpan.FromSeconds(record.ElapsedSeconds);
        state.EarlyStoppingReference = record.EarlyStoppingReference;
        state.EvaluationsWithoutImprovement = record.EvaluationsWithoutImprovement;
        history.StepList.AddRange(record.Steps);
        history.EvaluationList.AddRange(record.Evaluations);
        history.Best = record.BestEvaluation is int best ? history.EvaluationList[best] : null;
        state.LastEvaluation = history.EvaluationList.LastOrDefault();
        history.StoppedEarly = record.StoppedEarly;
        history.NonFiniteStepList.AddRange(record.NonFiniteSteps);
        control.ShouldStop = record.Stopped;
        var generator = Convert.FromBase64String(record.TorchGenerator);
        using var generatorState = tensor(generator, ScalarType.Byte);
        Generator.Default.set_state(generatorState);
    }

    /// <summary>Settings a resumed run may change, with a warning.</summary>
    private static readonly HashSet<string> Adjustable = new(StringComparer.Ordinal) { "LearningRate", "MaxGradientNorm" };

    /// <summary>The settings a resumed run must share with the run that wrote the checkpoint, by the option that sets each.</summary>
    public static SortedDictionary<string, string> Settings(FineTuneArguments a, BertTaskModel model, IReadOnlyList<TokenizedExample> train, IReadOnlyList<TokenizedExample>? validation)
    {
        static string S(object? value) => value switch
        {
            null => "null",
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString()!,
        };
        var trainable = string.Join(";", model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => $"{p.name}[{string.Join(",", p.parameter.shape)}]"));
        return new(StringComparer.Ordinal)
        {
            ["Epochs"] = S(a.Epochs),
            ["BatchSize"] = S(a.BatchSize),
            ["GradientAccumulationSteps"] = S(a.GradientAccumulationSteps),
            ["LearningRate"] = S(a.LearningRate),
            ["Schedule"] = S(a.Schedule),
            ["WarmupSteps"] = S(a.WarmupSteps),
            ["WarmupRatio"] = S(a.WarmupRatio),
            ["WeightDecay"] = S(a.WeightDecay),
            ["AdamBeta1"] = S(a.AdamBeta1),
            ["AdamBeta2"] = S(a.AdamBeta2),
            ["AdamEpsilon"] = S(a.AdamEpsilon),
            ["MaxGradientNorm"] = S(a.MaxGradientNorm),
            ["GroupByLength"] = S(a.GroupByLength),
            ["EvaluateEveryNSteps"] = S(a.EvaluateEveryNSteps),
            ["ValidationMetric"] = S(a.ValidationMetric),
            ["EarlyStoppingPatience"] = S(a.EarlyStoppingPatience),
            ["EarlyStoppingMinDelta"] = S(a.EarlyStoppingMinDelta),
            ["Seed"] = S(a.Seed),
            ["Precision"] = S(model.Precision),
            ["model config (task, labels, sizes, dropouts)"] = Digest(Encoding.UTF8.GetBytes(model.Config.ToJsonString())),
            ["trainable parameters (FreezeEncoder, FreezeEmbeddings, FreezeBottomLayers)"] = Digest(Encoding.UTF8.GetBytes(trainable)),
            ["training data (rows, text, labels, MaxSequenceLength)"] = DataDigest(train),
            ["validation data (ValidationSet, ValidationFraction)"] = validation is null ? "none" : DataDigest(validation),
        };
    }

    /// <summary>The number of examples and a hash of their token ids and labels.</summary>
    private static string DataDigest(IReadOnlyList<TokenizedExample> examples)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var e in examples)
        {
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.Ids.AsSpan()));
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.TypeIds.AsSpan()));
            hash.AppendData(BitConverter.GetBytes(e.Label));
            if (e.TokenLabels is { } tokens) hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tokens.AsSpan()));
            if (e.Targets is { } targets) hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(targets.AsSpan()));
            hash.AppendData(BitConverter.GetBytes(-1));   // the example's end, so that moving a token between examples changes the hash
        }
        return $"{examples.Count} examples, sha256 {Convert.ToHexStringLower(hash.GetHashAndReset())[..16]}";
    }

    private static string Digest(byte[] bytes) => $"sha256 {Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}";

    private static byte[] GeneratorState()
    {
        using var state = Generator.Default.get_state();
        return state.data<byte>().ToArray();
    }

    /// <summary>The checkpoint folders in <paramref name="directory"/> by step, oldest first; temp folders and other names are left out.</summary>
    internal static List<(int Step, string Folder)> List(string directory)
    {
        if (!Directory.Exists(directory)) return [];
        directory = Path.GetFullPath(directory);
        return [.. Directory.GetDirectories(directory, FolderPrefix + "*")
            .Select(folder => (Ok: int.TryParse(Path.GetFileName(folder)[FolderPrefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int step), step, folder))
            .Where(c => c.Ok).Select(c => (c.step, c.folder)).OrderBy(c => c.step)];
    }

    private static void Prune(string directory, int keep)
    {
        foreach (var (_, folder) in List(directory).SkipLast(keep))
        {
            try { Directory.Delete(folder, recursive: true); }
            // A folder that cannot be deleted now is retried after the next checkpoint; it is never read while a newer one is complete.
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static void CopyInto(Dictionary<string, Tensor> target, string path)
    {
        var source = SafeTensors.Load(path, floatDType: null);
        try
        {
            var missing = target.Keys.Except(source.Keys).ToList();
            var unexpected = source.Keys.Except(target.Keys).ToList();
            var shapes = target.Keys.Intersect(source.Keys).Where(k => !source[k].shape.SequenceEqual(target[k].shape) || source[k].dtype != target[k].dtype)
                .Select(k => $"{k}: [{string.Join(", ", source[k].shape)}] {source[k].dtype} in the file, [{string.Join(", ", target[k].shape)}] {target[k].dtype} in the model").ToList();
            if (missing.Count + unexpected.Count + shapes.Count > 0)
                throw new InvalidDataException($"{path}: does not fit the model: missing {string.Join(", ", missing)}; unexpected {string.Join(", ", unexpected)}; {string.Join("; ", shapes)}.");
            using var noGrad = no_grad();
            foreach (var (name, value) in target) value.copy_(source[name]);
        }
        finally
        {
            foreach (var t in source.Values) t.Dispose();
        }
    }

    private static void WriteFile(string path, byte[] bytes)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    private static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private sealed record ManifestEntry(long Bytes, string Sha256);
}

/// <summary>The trainer's part of a checkpoint (trainer.json): position, random generator, history and the settings it needs.</summary>
internal sealed class TrainerRecord
{
    public int Format { get; set; }
    public int Step { get; set; }
    public int Epoch { get; set; }
    /// <summary>Optimizer steps done in <see cref="Epoch"/>; gradient accumulation is always at a step boundary here.</summary>
    public int StepInEpoch { get; set; }
    /// <summary>Whether <see cref="Epoch"/>'s end (its evaluation and callbacks) has run.</summary>
    public bool EpochEnded { get; set; }
    /// <summary>Whether training had finished (early stopping) when this was written.</summary>
    public bool Stopped { get; set; }
    public bool StoppedEarly { get; set; }
    public long ExamplesSeen { get; set; }
    public float LastLoss { get; set; }
    public double LearningRate { get; set; }
    public double ElapsedSeconds { get; set; }
    /// <summary>libtorch's CPU generator (which also seeds the C# dropout masks), base64.</summary>
    public string TorchGenerator { get; set; } = "";
    public int Threads { get; set; }
    public List<TrainingStep> Steps { get; set; } = [];
    public List<TrainingEvaluation> Evaluations { get; set; } = [];
    public int? BestEvaluation { get; set; }
    public Dictionary<string, double>? EarlyStoppingReference { get; set; }
    public int EvaluationsWithoutImprovement { get; set; }
    public List<int> NonFiniteSteps { get; set; } = [];
    public SortedDictionary<string, string> Settings { get; set; } = [];
}
