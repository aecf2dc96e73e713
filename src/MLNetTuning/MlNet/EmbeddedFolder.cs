using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.MlNet;

/// <summary>
/// Stores a whole folder (a Hugging Face model folder) as one side entry of an ML.NET model zip, and unpacks it again.
/// One entry keeps the weights stored once, and the folder layout is the same one that export writes.
/// </summary>
internal static class EmbeddedFolder
{
    private const int MaxFiles = 64;

    /// <summary>Writes a model as a Hugging Face folder (config, safetensors, tokenizer) into one zip entry.</summary>
    public static void WriteModel(ModelWriter writer, string entryName, BertConfig config, IEnumerable<KeyValuePair<string, Tensor>> stateDict, ITextTokenizer tokenizer)
    {
        string scratch = Directory.CreateTempSubdirectory("mlnettuning-save-").FullName;
        try
        {
            string folder = Path.Combine(scratch, "model");
            HuggingFaceFolder.Save(folder, config, stateDict, tokenizer);
            Write(writer, entryName, folder);
        }
        finally { Directory.Delete(scratch, recursive: true); }
    }

    /// <summary>Reads a model written by <see cref="WriteModel"/> into memory; the unpacked files are removed at once.</summary>
    public static PretrainedBert ReadModel(ModelReader reader, string entryName)
    {
        string folder = ReadToTemporaryFolder(reader, entryName);
        try { return HuggingFaceFolder.Load(folder); }
        catch (FileNotFoundException e)
        {
            // A file the entry should hold is missing (found by afl-fuzz): for a zip that is damage, not a wrong path,
            // and the temporary folder the message names is gone by the time anyone reads it.
            throw new InvalidDataException($"The model zip entry '{entryName}' is damaged: it lacks {Path.GetFileName(e.FileName) ?? "a file"} " +
                $"({e.Message.Replace(folder, entryName)}). Save the model again from the training run.", e);
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    public static void Write(ModelWriter writer, string entryName, string folder) => writer.WriteBinaryStream(entryName, w =>
    {
        var files = Directory.GetFiles(folder).Order(StringComparer.Ordinal).ToArray();
        w.Write(files.Length);
        foreach (var file in files)
        {
            w.Write(Path.GetFileName(file));
            using var stream = File.OpenRead(file);
            w.Write(stream.Length);
            stream.CopyTo(w.BaseStream);
        }
    });

    /// <summary>Unpacks the entry into a new temporary folder, which the caller deletes.</summary>
    public static string ReadToTemporaryFolder(ModelReader reader, string entryName)
    {
        string folder = Directory.CreateTempSubdirectory("mlnettuning-model-").FullName;
        try
        {
            reader.ReadBinaryStream(entryName, r =>
            {
                int count = r.ReadInt32();
                var names = new HashSet<string>(StringComparer.Ordinal);
                if (count is < 0 or > MaxFiles) throw new InvalidDataException($"The model zip entry '{entryName}' is damaged: it claims {count} files.");
                for (int i = 0; i < count; i++)
                {
                    string name = r.ReadString();
                    // The name becomes a path: refuse anything that could leave the folder.
                    // A NUL or an over-long name would fail in File.Create with an ArgumentException or IOException instead
                    // (found by the property pass); Hugging Face file names are short ASCII.
                    if (name.Length == 0 || name.Length > 128 || name != Path.GetFileName(name) || name is "." or ".."
                        || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Any(char.IsControl))
                        throw new InvalidDataException($"The model zip entry '{entryName}' is damaged: bad file name '{name}'.");
                    long length = r.ReadInt64();
                    if (length < 0) throw new InvalidDataException($"The model zip entry '{entryName}' is damaged: file '{name}' has length {length}.");
                    // ML.NET hands over the unpacked entry as a seekable stream, so a length that claims more than is left is
                    // refused before anything is written; the per-file caps keep a config or tokenizer from swelling memory later.
                    long left = r.BaseStream.CanSeek ? r.BaseStream.Length - r.BaseStream.Position : long.MaxValue;
                    if (length > left)
                        throw new InvalidDataException($"The model zip entry '{entryName}' is damaged: file '{name}' claims {length:N0} bytes, but only {left:N0} bytes are left in the entry. Save the model again.");
                    if (length > MaxBytes(name))
                        throw IO.FileLimits.TooLarge($"{entryName}/{name}", length, MaxBytes(name), Describe(name));
                    if (!names.Add(name))
                        throw new InvalidDataException($"The model zip entry '{entryName}' is damaged: it holds the file '{name}' twice.");
                    using var output = File.Create(Path.Combine(folder, name));
                    CopyExactly(r.BaseStream, output, length, entryName);
                }
            });
            return folder;
        }
        catch
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    private static long MaxBytes(string name) => name switch
    {
        HuggingFaceFolder.ConfigFile or TokenizerFolder.TokenizerConfigFile or TokenizerFolder.SpecialTokensMapFile => IO.FileLimits.MaxConfigJsonBytes,
        BertTextTokenizer.VocabFile or TokenizerFolder.TokenizerJsonFile or ByteLevelBpeTextTokenizer.VocabJsonFile or ByteLevelBpeTextTokenizer.MergesFile
            or SentencePieceTextTokenizer.ModelFile => IO.FileLimits.MaxTokenizerFileBytes,
        _ => IO.FileLimits.MaxZipEntryBytes,
    };

    private static string Describe(string name) => MaxBytes(name) == IO.FileLimits.MaxZipEntryBytes ? "a model file" : $"a {name}";

    private static void CopyExactly(Stream source, Stream target, long length, string entryName)
    {
        var buffer = new byte[1 << 20];
        while (length > 0)
        {
            int read = source.Read(buffer, 0, (int)Math.Min(buffer.Length, length));
            if (read == 0) throw new InvalidDataException($"The model zip entry '{entryName}' is truncated; save the model again.");
            target.Write(buffer, 0, read);
            length -= read;
        }
    }
}
