using System.IO.Compression;
using Microsoft.ML;
using MLNetTuning.Native;

namespace MLNetTuning.Tests.Hostile;

/// <summary>
/// A real ML.NET model zip of a tiny fine-tuned BERT (made once per test run), and ways to damage a copy of it.
/// Its maximum length (37) and batch size (7) are distinctive, so that tests find them in the model stream by value.
/// </summary>
public sealed class HostileZipFixture : IDisposable
{
    public const int MaxLength = 37;
    public const int BatchSize = 7;
    public const string ModelEntrySuffix = "HuggingFaceModel.bin";

    public HostileZipFixture()
    {
        TorchNativeLoader.EnsureLoaded();
        Folder = TinyCheckpoint.Create(seed: 5, hidden: 16, layers: 1, heads: 2, maxPositions: 64);
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(TextData.SpamOrWork(16, seed: 3));
        var options = TextData.Options(Folder, BertTask.BinaryClassification, epochs: 1);
        options.MaxSequenceLength = MaxLength;
        options.ScoringBatchSize = BatchSize;
        using var model = ml.BinaryClassification.Trainers.BertFineTune(options).Fit(data);
        Zip = Path.Combine(Path.GetDirectoryName(Folder)!, "tiny.zip");
        ml.Model.Save(model, data.Schema, Zip);
        Bytes = File.ReadAllBytes(Zip);
    }

    /// <summary>The tiny Hugging Face folder the model was fine-tuned from.</summary>
    public string Folder { get; }

    /// <summary>The saved model zip.</summary>
    public string Zip { get; }

    public byte[] Bytes { get; }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(Folder)!, recursive: true);
}

/// <summary>Rewrites model zips entry by entry, and finds the error a load threw under ML.NET's wrappers.</summary>
internal static class ZipSurgery
{
    /// <summary>The bytes of the first entry whose name ends with <paramref name="suffix"/>.</summary>
    public static byte[] ReadEntry(byte[] zip, string suffix)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var entry = archive.Entries.First(e => e.FullName.EndsWith(suffix, StringComparison.Ordinal));
        using var stream = entry.Open();
        var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>A copy of <paramref name="zip"/> with the entry ending in <paramref name="suffix"/> written by <paramref name="write"/>.</summary>
    public static byte[] ReplaceEntry(byte[] zip, string suffix, Action<Stream> write, CompressionLevel level = CompressionLevel.Fastest)
    {
        var output = new MemoryStream();
        using (var source = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read))
        using (var target = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var entry in source.Entries)
            {
                var copy = target.CreateEntry(entry.FullName, level);
                using var to = copy.Open();
                if (entry.FullName.EndsWith(suffix, StringComparison.Ordinal)) write(to);
                else { using var from = entry.Open(); from.CopyTo(to); }
            }
        }
        return output.ToArray();
    }

    public static byte[] ReplaceEntry(byte[] zip, string suffix, byte[] content) => ReplaceEntry(zip, suffix, s => s.Write(content));

    /// <summary>Loads a zip from bytes in a fresh context.</summary>
    public static ITransformer Load(byte[] zip) => new MLContext(seed: 1).Model.Load(new MemoryStream(zip), out _);

    /// <summary>The <see cref="InvalidDataException"/> in <paramref name="error"/>'s chain (ML.NET wraps a loader's errors).</summary>
    public static InvalidDataException? FindInvalidData(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
            if (e is InvalidDataException invalid) return invalid;
        return null;
    }

    /// <summary>Asserts that loading fails with an InvalidDataException (possibly wrapped) and returns its message.</summary>
    public static string LoadFails(byte[] zip)
    {
        var error = Assert.ThrowsAny<Exception>(() => Load(zip));
        var invalid = FindInvalidData(error);
        Assert.True(invalid is not null, $"expected an InvalidDataException in the chain, got {error}");
        return invalid!.Message;
    }

    /// <summary>Replaces the first int32 pair (<paramref name="first"/>, <paramref name="second"/>) in <paramref name="bytes"/>.</summary>
    public static byte[] ReplaceInt32Pair(byte[] bytes, int first, int second, int newFirst, int newSecond)
    {
        var pattern = new byte[8];
        BitConverter.TryWriteBytes(pattern.AsSpan(0, 4), first);
        BitConverter.TryWriteBytes(pattern.AsSpan(4, 4), second);
        int at = bytes.AsSpan().IndexOf(pattern);
        Assert.True(at >= 0, $"the pair ({first}, {second}) is not in the stream");
        var copy = (byte[])bytes.Clone();
        BitConverter.TryWriteBytes(copy.AsSpan(at, 4), newFirst);
        BitConverter.TryWriteBytes(copy.AsSpan(at + 4, 4), newSecond);
        return copy;
    }
}
