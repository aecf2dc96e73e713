using System.IO.Compression;
using Microsoft.ML;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Text;

namespace MLNetTuning.Fuzz;

/// <summary>
/// One parser under test. <see cref="Run"/> returns how the input ended ("loaded ..." or "refused: ..." for the documented
/// <see cref="InvalidDataException"/>) and throws for anything else, which afl-fuzz records as a crash: another exception
/// type, or more memory than the input can justify (<see cref="OverAllocationException"/>).
/// </summary>
internal abstract class Target
{
    /// <summary>Managed bytes one input may allocate: a fixed allowance plus a multiple of its size. Each parser here
    /// holds a few copies of its input (bytes, text, JSON tree), never more than a few dozen.</summary>
    private const long AllowanceBytes = 64L << 20;
    private const long BytesPerInputByte = 64;

    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-fuzz-").FullName;

    /// <summary>A folder that is emptied before each input.</summary>
    protected string Scratch => _scratch;

    public virtual void Prepare() { }

    public string Run(byte[] input)
    {
        foreach (var file in Directory.GetFiles(_scratch)) File.Delete(file);
        long before = GC.GetAllocatedBytesForCurrentThread();
        string outcome;
        try { outcome = Load(input); }
        catch (Exception e) when (IsDocumented(e)) { outcome = "refused: " + FirstLine(e); }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (allocated > AllowanceBytes + BytesPerInputByte * input.Length)
            throw new OverAllocationException($"{allocated:N0} managed bytes allocated for a {input.Length:N0}-byte input ({outcome})");
        return outcome;
    }

    /// <summary>Loads the input; returns a one-line description of what loaded.</summary>
    protected abstract string Load(byte[] input);

    /// <summary>The documented failure: an <see cref="InvalidDataException"/>, which may be wrapped by ML.NET.</summary>
    protected virtual bool IsDocumented(Exception e) => e is InvalidDataException;

    private static string FirstLine(Exception e) => e.Message.Split('\n')[0];

    /// <summary>Writes the input to <paramref name="name"/> in the scratch folder and returns the path.</summary>
    protected string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_scratch, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Native (libtorch) bytes a safetensors file may hold: no more than the file itself.</summary>
    protected static void CheckNativeBytes(IEnumerable<TorchSharp.torch.Tensor> tensors, long inputLength)
    {
        long total = tensors.Sum(t => t.numel() * t.element_size());
        if (total > inputLength)
            throw new OverAllocationException($"{total:N0} tensor bytes from a {inputLength:N0}-byte file");
    }
}

/// <summary>More memory than the input can justify: a finding, like a crash.</summary>
internal sealed class OverAllocationException(string message) : Exception(message);

internal static class Targets
{
    /// <summary>Separates the files of a multi-file input (tokenizer.json, tokenizer_config.json, special_tokens_map.json).</summary>
    public static readonly byte[] FileSeparator = "\n\u0000--next-file--\u0000\n"u8.ToArray();

    public static readonly IReadOnlyDictionary<string, Target> All = new Dictionary<string, Target>(StringComparer.Ordinal)
    {
        ["safetensors"] = new SafeTensorsTarget(),
        ["config"] = new ConfigTarget(),
        ["vocab"] = new VocabTarget(),
        ["tokenizer"] = new TokenizerTarget(),
        ["zip"] = new ZipTarget(),
        ["onnx"] = new OnnxTarget(),
    };

    public static List<byte[]> Split(byte[] input)
    {
        var parts = new List<byte[]>();
        var rest = input.AsSpan();
        int at;
        while ((at = rest.IndexOf(FileSeparator)) >= 0)
        {
            parts.Add(rest[..at].ToArray());
            rest = rest[(at + FileSeparator.Length)..];
        }
        parts.Add(rest.ToArray());
        return parts;
    }
}

internal sealed class SafeTensorsTarget : Target
{
    protected override string Load(byte[] input)
    {
        string path = Write("model.safetensors", input);
        var tensors = SafeTensors.Load(path, floatDType: null);
        try
        {
            CheckNativeBytes(tensors.Values, input.Length);
            return $"loaded {tensors.Count} tensors";
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }
}

internal sealed class ConfigTarget : Target
{
    protected override string Load(byte[] input)
    {
        var config = BertConfig.FromFile(Write("config.json", input));
        // Writing it back exercises the kept extra keys and the labels.
        return $"loaded: {config.NumLabels} labels, {config.ToJsonString().Length} chars written back";
    }
}

internal sealed class VocabTarget : Target
{
    protected override string Load(byte[] input)
    {
        Write("vocab.txt", input);
        var tokenizer = BertTextTokenizer.FromFolder(Scratch);
        return $"loaded {tokenizer.VocabSize} tokens; {Sample.Encode(tokenizer)}";
    }
}

internal sealed class TokenizerTarget : Target
{
    protected override string Load(byte[] input)
    {
        var parts = Targets.Split(input);
        Write("tokenizer.json", parts[0]);
        if (parts.Count > 1) Write("tokenizer_config.json", parts[1]);
        if (parts.Count > 2) Write("special_tokens_map.json", parts[2]);
        var tokenizer = BertTextTokenizer.FromFolder(Scratch);
        return $"loaded {tokenizer.VocabSize} tokens; {Sample.Encode(tokenizer)}";
    }
}

internal static class Sample
{
    private const string Text = "Hello, wörld! 東京 [MASK] unaffable naïve";

    public static string Encode(BertTextTokenizer tokenizer)
    {
        var encoded = tokenizer.Encode(Text, maxLength: 32);
        return $"{encoded.Ids.Length} ids";
    }
}

/// <summary>
/// Our entries inside a real ML.NET model zip (a tiny fine-tuned model, fuzz/templates/model.zip). The input is the
/// main model stream and the embedded Hugging Face folder, as <c>[int32 n][n bytes of Model.key][HuggingFaceModel.bin]</c>;
/// they are stored uncompressed in a copy of the template, so that afl's mutations reach our reader instead of deflate.
/// </summary>
internal sealed class ZipTarget : Target
{
    private const string ModelEntry = "HuggingFaceModel.bin";
    private byte[] _template = [];
    private string _directory = "";
    private readonly MLContext _ml = new(seed: 1);

    public override void Prepare()
    {
        _template = File.ReadAllBytes(Seeds.TemplatePath);
        using var archive = new ZipArchive(new MemoryStream(_template), ZipArchiveMode.Read);
        string model = archive.Entries.First(e => e.FullName.EndsWith(ModelEntry, StringComparison.Ordinal)).FullName;
        _directory = model[..^ModelEntry.Length];
    }

    /// <summary>Splits a fuzz input into the main stream and the folder entry (see the class remarks).</summary>
    public static (byte[]? Main, byte[] Folder) SplitInput(byte[] input)
    {
        if (input.Length < 4) return (null, input);
        int n = BitConverter.ToInt32(input, 0);
        return n < 0 || n > input.Length - 4 ? (null, input[4..]) : (input[4..(4 + n)], input[(4 + n)..]);
    }

    public static byte[] JoinInput(byte[] main, byte[] folder) => [.. BitConverter.GetBytes(main.Length), .. main, .. folder];

    protected override string Load(byte[] input)
    {
        var (main, folder) = SplitInput(input);
        var zip = new MemoryStream();
        using (var source = new ZipArchive(new MemoryStream(_template), ZipArchiveMode.Read))
        using (var target = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                using var to = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                if (entry.FullName == _directory + ModelEntry) to.Write(folder);
                else if (main is not null && entry.FullName == _directory + "Model.key") to.Write(main);
                else { using var from = entry.Open(); from.CopyTo(to); }
            }
        }
        zip.Position = 0;
        var model = _ml.Model.Load(zip, out _);
        (model as IDisposable)?.Dispose();
        return $"loaded {model.GetType().Name}";
    }

    // ML.NET reports a damaged stream of its own (the header, the string table) as FormatException through its
    // Contracts.CheckDecode, and wraps a loader's exception in its own; ours is an InvalidDataException somewhere in the chain.
    protected override bool IsDocumented(Exception e)
    {
        bool ranOurLoader = false;
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is InvalidDataException or FormatException) return true;
            ranOurLoader |= x.StackTrace?.Split('\n').Any(f => f.TrimStart().StartsWith("at MLNetTuning.", StringComparison.Ordinal) && !f.TrimStart().StartsWith("at MLNetTuning.Fuzz.", StringComparison.Ordinal)) == true;
        }
        // ML.NET refused the zip before our loader ran (a header naming a loader assembly that does not exist, say):
        // ML.NET's own check and exception, nothing of ours to harden.
        return !ranOurLoader;
    }
}

internal sealed class OnnxTarget : Target
{
    protected override string Load(byte[] input)
    {
        var weights = OnnxBertImporter.ImportStateDict(new MemoryStream(input), Seeds.OnnxConfig(), "fuzz.onnx", allowMissingPooler: true);
        try
        {
            CheckNativeBytes(weights.Values, input.Length * 4L);   // float data may come as int64/double; never more
            return $"imported {weights.Count} weights";
        }
        finally { foreach (var t in weights.Values) t.Dispose(); }
    }
}
