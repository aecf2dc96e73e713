using System.IO.Compression;
using System.Text;
using Microsoft.ML;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Text;

namespace MLNetTuning.Tests.Hostile;

/// <summary>
/// The parsers that read downloaded files, each behind one call that takes the file's bytes, as the fuzz harness
/// (fuzz/MLNetTuning.Fuzz) drives them. The contract every input must keep: it loads, or it fails with
/// <see cref="InvalidDataException"/> (wrapped by ML.NET for a zip), naming the file.
/// </summary>
internal static class Parsers
{
    /// <summary>Separates tokenizer.json, tokenizer_config.json and special_tokens_map.json in one input (as in fuzz/).</summary>
    public static readonly byte[] FileSeparator = "\n\u0000--next-file--\u0000\n"u8.ToArray();

    public static readonly string DataFolder = Path.Combine(AppContext.BaseDirectory, "Data", "Hostile");

    /// <summary>Loads <paramref name="input"/> as the <paramref name="target"/> file from inside <paramref name="scratch"/>.</summary>
    public static void Load(string target, byte[] input, string scratch)
    {
        foreach (var file in Directory.GetFiles(scratch)) File.Delete(file);
        switch (target)
        {
            case "safetensors":
                string path = Write(scratch, "model.safetensors", input);
                var tensors = SafeTensors.Load(path, floatDType: null);
                long bytes = tensors.Values.Sum(t => t.numel() * t.element_size());
                foreach (var t in tensors.Values) t.Dispose();
                Assert.True(bytes <= input.Length, $"{bytes} tensor bytes from a {input.Length}-byte file");
                break;
            case "config":
                BertConfig.FromFile(Write(scratch, "config.json", input)).ToJsonString();
                break;
            case "vocab":
                Write(scratch, "vocab.txt", input);
                BertTextTokenizer.FromFolder(scratch).Encode("Hello, wörld! 東京 [MASK]", maxLength: 32);
                break;
            case "tokenizer":
                var parts = Split(input);
                Write(scratch, "tokenizer.json", parts[0]);
                if (parts.Count > 1) Write(scratch, "tokenizer_config.json", parts[1]);
                if (parts.Count > 2) Write(scratch, "special_tokens_map.json", parts[2]);
                BertTextTokenizer.FromFolder(scratch).Encode("Hello, wörld! 東京 [MASK]", maxLength: 32);
                break;
            case "zip":
                var model = new MLContext(seed: 1).Model.Load(new MemoryStream(PackZip(input)), out _);
                (model as IDisposable)?.Dispose();
                break;
            case "onnx":
                var weights = OnnxBertImporter.ImportStateDict(new MemoryStream(input), OnnxConfig(), "fuzz.onnx", allowMissingPooler: true);
                foreach (var t in weights.Values) t.Dispose();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(target), target, "Unknown parser.");
        }
    }

    /// <summary>Null when the input kept the contract, otherwise what broke it.</summary>
    public static string? Violation(string target, byte[] input, string scratch)
    {
        try
        {
            Load(target, input, scratch);
            return null;
        }
        catch (Exception e)
        {
            for (Exception? x = e; x is not null; x = x.InnerException)
            {
                if (x is InvalidDataException) return null;
                // ML.NET's own checks of its header and string table (Contracts.CheckDecode) throw FormatException.
                if (target == "zip" && x is FormatException) return null;
            }
            // ML.NET refused the zip before our loader ran (its header names a loader assembly that does not exist, say):
            // that is ML.NET's own check, with ML.NET's exception, and nothing of ours to harden.
            if (target == "zip" && !RanOurLoader(e)) return null;
            return e.ToString();
        }
    }

    private static bool RanOurLoader(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.StackTrace?.Split('\n').Any(f => f.TrimStart().StartsWith("at MLNetTuning.", StringComparison.Ordinal) && !f.TrimStart().StartsWith("at MLNetTuning.Tests.", StringComparison.Ordinal)) == true) return true;
        return false;
    }

    /// <summary>The sizes the ONNX seeds were made for (fuzz/MLNetTuning.Fuzz/Seeds.cs).</summary>
    public static BertConfig OnnxConfig() => new()
    {
        VocabSize = 8, HiddenSize = 4, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 8, MaxPositionEmbeddings = 8,
    };

    /// <summary>The committed seed corpus of a target (fuzz/corpus, copied into the test output).</summary>
    public static IEnumerable<(string Name, byte[] Bytes)> Seeds(string target) =>
        Directory.GetFiles(Path.Combine(DataFolder, "corpus", target)).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f)));

    private static string Write(string scratch, string name, byte[] bytes)
    {
        string path = Path.Combine(scratch, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

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

    private static readonly Lazy<byte[]> Template = new(() => File.ReadAllBytes(Path.Combine(DataFolder, "model.zip")));

    /// <summary>
    /// Packs <c>[int32 n][n bytes of Model.key][HuggingFaceModel.bin]</c> into a copy of the tiny model zip, uncompressed,
    /// as the fuzz harness does.
    /// </summary>
    public static byte[] PackZip(byte[] input)
    {
        byte[]? main = null;
        byte[] folder = input;
        if (input.Length >= 4)
        {
            int n = BitConverter.ToInt32(input, 0);
            (main, folder) = n < 0 || n > input.Length - 4 ? (null, input[4..]) : (input[4..(4 + n)], input[(4 + n)..]);
        }
        var zip = new MemoryStream();
        using (var source = new ZipArchive(new MemoryStream(Template.Value), ZipArchiveMode.Read))
        using (var target = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                using var to = target.CreateEntry(entry.FullName, CompressionLevel.NoCompression).Open();
                if (entry.FullName.EndsWith("/HuggingFaceModel.bin", StringComparison.Ordinal)) to.Write(folder);
                else if (main is not null && entry.FullName.EndsWith("/Model.key", StringComparison.Ordinal)) to.Write(main);
                else { using var from = entry.Open(); from.CopyTo(to); }
            }
        }
        return zip.ToArray();
    }

    public static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
