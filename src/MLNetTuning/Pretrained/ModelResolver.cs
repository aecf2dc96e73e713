using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Pretrained;

/// <summary>A pretrained checkpoint in memory: its config, Hugging Face-named weights and tokenizer.</summary>
internal sealed class PretrainedBert(BertConfig config, Dictionary<string, Tensor> weights, ITextTokenizer tokenizer, string source) : IDisposable
{
    public BertConfig Config { get; } = config;
    public IReadOnlyDictionary<string, Tensor> Weights { get; } = weights;
    public ITextTokenizer Tokenizer { get; } = tokenizer;
    /// <summary>Where it came from (a folder or an embedded name), for messages.</summary>
    public string Source { get; } = source;

    /// <summary>
    /// Loads the encoder weights strictly into <paramref name="encoder"/>: every encoder key must be present with its shape.
    /// A pretraining head (<c>cls.*</c>) or another task's classifier is left out on purpose, since fine-tuning attaches a new head.
    /// </summary>
    /// <param name="encoder">The encoder to fill.</param>
    /// <param name="ignorePooler">Leave out the checkpoint's pooler, for an encoder built without one (embeddings).</param>
    /// <remarks>A checkpoint exported without a pooler (snowflake-arctic-embed-xs) leaves the pooler as Hugging Face initialises a new one.</remarks>
    public void LoadEncoderInto(EncoderModel encoder, bool ignorePooler = false)
    {
        var family = ModelFamilies.Of(Config);
        bool hasPooler = Weights.Keys.Any(k => family.MapKey(k, "") is { } m && m.StartsWith("pooler.", StringComparison.Ordinal));
        StrictLoad.LoadInto(encoder, Weights, Source, mapKey: key =>
                ModelFamily.IsReplacedHead(key) ? null
                : family.MapKey(key, "") is { } mapped && !(ignorePooler && mapped.StartsWith("pooler.", StringComparison.Ordinal)) ? mapped
                : null,
            isIgnorableMissing: key => !hasPooler && key.StartsWith("pooler.", StringComparison.Ordinal));
        if (!hasPooler && encoder.PoolerModule is { } pooler) BertInit.Apply(pooler, Config.InitializerRange);
    }

    /// <summary>
    /// The one way to build a pretrained bare encoder (Hugging Face's <c>AutoModel.from_pretrained</c>): the family's
    /// encoder for this checkpoint's <c>model_type</c>, its weights loaded strictly.
    /// </summary>
    /// <param name="addPoolingLayer">Build the pooler (BERT and RoBERTa; DistilBERT has none).</param>
    /// <param name="device">Where to build it; null for the CPU.</param>
    public EncoderModel LoadEncoder(bool addPoolingLayer = false, Device? device = null)
    {
        var encoder = ModelFamilies.Of(Config).CreateEncoder(Config, addPoolingLayer, device);
        try { LoadEncoderInto(encoder, ignorePooler: !addPoolingLayer); }
        catch { encoder.Dispose(); throw; }
        return encoder;
    }

    /// <summary>Loads a whole task checkpoint (encoder and head) strictly, for a model we fine-tuned before.</summary>
    public void LoadTaskModelInto(BertTaskModel model)
    {
        var family = ModelFamilies.Of(Config);
        StrictLoad.LoadInto(model, Weights, Source, mapKey: key => family.MapKey(key, family.Prefix + "."));
    }

    /// <summary>
    /// Frees the checkpoint's tensors once they are copied into a model, so that training does not hold the weights twice;
    /// the config and tokenizer stay usable. Loading from this checkpoint afterwards fails.
    /// </summary>
    public void ReleaseWeights()
    {
        foreach (var tensor in Weights.Values) tensor.Dispose();
        weights.Clear();
    }

    public void Dispose() => ReleaseWeights();
}

/// <summary>
/// The one place where a model name becomes a checkpoint: an embedded model, a Hugging Face model folder, or a model id
/// in the local Hugging Face hub cache. Nothing is downloaded.
/// </summary>
internal static class ModelResolver
{
    public static PretrainedBert Load(string model)
    {
        if (string.IsNullOrWhiteSpace(model))
            throw new ArgumentException("BertFineTuneOptions.Model is empty. Give an embedded model name (" + string.Join(", ", EmbeddedModels.Names) + "), a Hugging Face model folder or a cached model id.", nameof(model));
        Native.TorchNativeLoader.EnsureLoaded();
        if (EmbeddedModels.TryGet(model, out var embedded))
        {
            using var vocab = embedded.OpenVocab();
            var tokenizer = BertTextTokenizer.FromVocab(vocab, new BertTokenizerSettings(LowerCase: embedded.LowerCase));
            return new PretrainedBert(embedded.CreateConfig(), embedded.LoadStateDict(), tokenizer, $"embedded model '{embedded.Name}'");
        }
        if (Directory.Exists(model))
            return HuggingFaceFolder.Load(model);
        if (HubCache.TryFind(model, out var snapshot, out var looked))
            return HuggingFaceFolder.Load(snapshot);
        throw new ArgumentException(
            $"Model '{model}' is not an embedded model ({string.Join(", ", EmbeddedModels.Names)}), not an existing folder, and not in the Hugging Face cache (looked for {looked}). " +
            "Nothing is downloaded: save the model with save_pretrained (or huggingface-cli download) and pass its folder.", nameof(model));
    }
}

/// <summary>Finds a model id (<c>org/name</c>) in the local Hugging Face hub cache, as <c>from_pretrained</c> would.</summary>
internal static class HubCache
{
    /// <param name="environment">Reads an environment variable; tests pass their own instead of the process's.</param>
    public static string CacheRoot(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        if (environment("HF_HUB_CACHE") is { Length: > 0 } hub) return hub;
        if (environment("HF_HOME") is { Length: > 0 } home) return Path.Combine(home, "hub");
        string cache = environment("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(cache, "huggingface", "hub");
    }

    /// <summary>The snapshot that <c>refs/main</c> names, or else the newest snapshot.</summary>
    /// <param name="modelId">A Hub id such as <c>org/name</c>.</param>
    /// <param name="snapshot">The snapshot folder when found.</param>
    /// <param name="lookedFor">The cache folder looked at, for messages.</param>
    /// <param name="cacheRoot">The hub cache folder; null means <see cref="CacheRoot"/>.</param>
    public static bool TryFind(string modelId, out string snapshot, out string lookedFor, string? cacheRoot = null)
    {
        snapshot = "";
        string repo = Path.Combine(cacheRoot ?? CacheRoot(), "models--" + modelId.Replace("/", "--"));
        lookedFor = repo;
        if (modelId.Contains("..") || !Directory.Exists(Path.Combine(repo, "snapshots"))) return false;
        string refFile = Path.Combine(repo, "refs", "main");
        if (File.Exists(refFile))
        {
            // A ref is a commit hash, a plain folder name: it must not lead out of the snapshots folder.
            string hash = File.ReadAllText(refFile).Trim();
            string named = Path.Combine(repo, "snapshots", hash);
            if (hash.Length > 0 && hash == Path.GetFileName(hash) && hash is not ("." or "..") && Directory.Exists(named)) { snapshot = named; return true; }
        }
        var newest = new DirectoryInfo(Path.Combine(repo, "snapshots")).EnumerateDirectories().OrderByDescending(d => d.LastWriteTimeUtc).FirstOrDefault();
        if (newest is null) return false;
        snapshot = newest.FullName;
        return true;
    }
}
