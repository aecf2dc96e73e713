namespace MLNetTuning.IO;

/// <summary>
/// Size caps for the files a user downloads or receives (model folders, model zips), checked before a byte of them is
/// buffered, so that a hostile or damaged file fails with a clear message instead of exhausting memory or disk.
/// </summary>
/// <remarks>
/// The caps sit far above every real checkpoint of the BERT family: config.json is about 1 kB (a few MB with tens of
/// thousands of labels), the largest multilingual tokenizer.json files are about 30 MB, and a model zip entry holds the
/// weights, which deflate barely shrinks (about 1.1:1 for float weights, 3:1 for a vocabulary).
/// </remarks>
internal static class FileLimits
{
    /// <summary>config.json, tokenizer_config.json, special_tokens_map.json.</summary>
    public const long MaxConfigJsonBytes = 16L << 20;

    /// <summary>tokenizer.json, vocab.txt, vocab.json, merges.txt and sentencepiece.bpe.model.</summary>
    public const long MaxTokenizerFileBytes = 256L << 20;

    /// <summary>The most labels a config may declare (id2label entries or num_labels); a head of this many rows is already
    /// larger than most encoders.</summary>
    public const int MaxLabels = 1_000_000;

    /// <summary>The most bytes one side entry of a model zip may unpack to, whatever its compression.</summary>
    public const long MaxZipEntryBytes = 64L << 30;

    /// <summary>An entry may unpack to this many bytes plus <see cref="MaxZipExpansion"/> times its compressed size.</summary>
    public const long ZipExpansionAllowanceBytes = 256L << 20;

    /// <summary>How many times its compressed size an entry may grow when unpacked (deflate reaches about 1000:1 on
    /// crafted input; model weights about 1.1:1).</summary>
    public const long MaxZipExpansion = 32;

    /// <summary>Throws unless the file at <paramref name="path"/> is at most <paramref name="maxBytes"/> long.</summary>
    /// <exception cref="InvalidDataException">The file is larger than the cap; the message names the file, both sizes and what it should be.</exception>
    public static void CheckFileSize(string path, long maxBytes, string what)
    {
        long length = new FileInfo(path).Length;
        if (length > maxBytes)
            throw TooLarge(path, length, maxBytes, what);
    }

    /// <summary>Reads a whole file after checking its size against <paramref name="maxBytes"/>.</summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        CheckFileSize(path, maxBytes, what);
        return File.ReadAllBytes(path);
    }

    /// <summary>The error for a file over its cap; public so that stream readers give the same message.</summary>
    public static InvalidDataException TooLarge(string path, long length, long maxBytes, string what) => new(
        $"{path}: {length:N0} bytes, above the {maxBytes:N0}-byte limit for {what}. The file is damaged or is not {what}; " +
        "replace it with the file from the model's original folder.");

    /// <summary>
    /// Checks a model zip entry's sizes as its central directory gives them, before it is unpacked: a deflate bomb (a
    /// small entry that claims or inflates to gigabytes) is refused here instead of filling the disk.
    /// </summary>
    /// <exception cref="InvalidDataException">The entry would unpack to more than the caps allow.</exception>
    public static void CheckZipEntry(string entryName, long unpackedBytes, long compressedBytes)
    {
        long allowed = Math.Min(MaxZipEntryBytes, ZipExpansionAllowanceBytes + MaxZipExpansion * Math.Max(0, compressedBytes));
        if (unpackedBytes < 0 || unpackedBytes > allowed)
            throw new InvalidDataException(
                $"The model zip entry '{entryName}' would unpack to {unpackedBytes:N0} bytes from {compressedBytes:N0} compressed bytes; " +
                $"the limit is {allowed:N0} bytes (at most {MaxZipExpansion}× the compressed size plus {ZipExpansionAllowanceBytes >> 20} MiB, " +
                $"and never above {MaxZipEntryBytes >> 30} GiB). Model weights barely compress, so this is a damaged or hostile zip (a deflate bomb); " +
                "it was not unpacked. Save the model again from the training run.");
    }
}
