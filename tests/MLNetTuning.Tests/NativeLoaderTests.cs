using System.Diagnostics;
using System.Text;
using MLNetTuning.Native;

namespace MLNetTuning.Tests;

public sealed class NativeLoaderTests : IDisposable
{
    private const string MissingVersion = "GLIBCXX_3.4.32";
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnt-native").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>TorchSharp 0.107's own native library, from the NuGet cache (or, failing that, the test output).</summary>
    internal static string RealLibrary()
    {
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } custom ? custom
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string[] candidates =
        [
            Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
        ];
        string? found = candidates.FirstOrDefault(File.Exists);
        Assert.True(found is not null, $"libLibTorchSharp.so not found; looked at {string.Join(", ", candidates)}");
        return found!;
    }

    [Fact]
    public void MarkVersionWeak_SetsOneBit_InTheVnaFlagsOfThatVersion()
    {
        byte[] original = File.ReadAllBytes(RealLibrary());
        byte[] patched = (byte[])original.Clone();

        Assert.True(TorchNativeLoader.MarkVersionWeak(patched, MissingVersion));

        var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
        // VER_FLG_WEAK (0x2) lives in the low byte of the little-endian 2-byte vna_flags: one byte, one bit.
        int at = Assert.Single(changed);
        Assert.Equal(0x02, original[at] ^ patched[at]);
        // Elf64_Vernaux is vna_hash (4), vna_flags (2), vna_other (2), vna_name (4), vna_next (4).
        int vernaux = at - 4;
        Assert.Equal(ElfHash(MissingVersion), BitConverter.ToUInt32(original, vernaux));
        uint nameOffset = BitConverter.ToUInt32(original, vernaux + 8);
        Assert.Equal(MissingVersion, ReadString(original, SectionOffset(original, ".dynstr") + (int)nameOffset));

        // Marking it again changes nothing.
        byte[] twice = (byte[])patched.Clone();
        Assert.True(TorchNativeLoader.MarkVersionWeak(twice, MissingVersion));
        Assert.Equal(patched, twice);
    }

    [Fact]
    public void MarkVersionWeak_ForAnAbsentVersion_ReturnsFalse_AndChangesNothing()
    {
        byte[] original = File.ReadAllBytes(RealLibrary());
        byte[] copy = (byte[])original.Clone();

        Assert.False(TorchNativeLoader.MarkVersionWeak(copy, "GLIBCXX_9.9.99"));

        Assert.Equal(original, copy);
    }

    [Fact]
    public void MarkVersionWeak_RefusesWhatIsNotALittleEndianElf64()
    {
        byte[] elf32 = File.ReadAllBytes(RealLibrary())[..4096];
        elf32[4] = 1;
        foreach (byte[] bytes in new[] { Encoding.ASCII.GetBytes("#!/bin/sh\necho not a library\n" + new string(' ', 64)), new byte[10], elf32 })
            Assert.Throws<InvalidDataException>(() => TorchNativeLoader.MarkVersionWeak(bytes, MissingVersion));
    }

    [Fact]
    public void MarkVersionWeak_OnATruncatedElf_ThrowsInvalidData()
    {
        byte[] original = File.ReadAllBytes(RealLibrary());
        // The section headers sit at the end of the file: cutting it leaves offsets that point past the end.
        foreach (int length in new[] { 64, 4096, original.Length / 2 })
        {
            var e = Assert.Throws<InvalidDataException>(() => TorchNativeLoader.MarkVersionWeak(original[..length], MissingVersion));
            Assert.Contains("truncated or corrupt", e.Message);
        }
    }

    [Fact]
    public void PatchedCopy_WritesThePatchedLibraryIntoTheCache_Once()
    {
        string original = Path.Combine(_dir, "in", "libLibTorchSharp.so");
        Directory.CreateDirectory(Path.GetDirectoryName(original)!);
        File.Copy(RealLibrary(), original);
        byte[] originalBytes = File.ReadAllBytes(original);
        byte[] expected = (byte[])originalBytes.Clone();
        TorchNativeLoader.MarkVersionWeak(expected, MissingVersion);
        string cache = Path.Combine(_dir, "cache");

        string path = TorchNativeLoader.PatchedCopy(original, cache);

        Assert.StartsWith(Path.Combine(cache, "native") + Path.DirectorySeparatorChar, path);
        Assert.Equal("libLibTorchSharp.so", Path.GetFileName(path));
        Assert.Equal(expected, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Path.GetDirectoryName(path)!));   // no temp file left beside it
        Assert.Equal(originalBytes, File.ReadAllBytes(original));   // the original is never modified

        var stamp = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, stamp);
        Assert.Equal(path, TorchNativeLoader.PatchedCopy(original, cache));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(path));
    }

    [Fact]
    public void PatchedCopy_FromConcurrentCallers_EndsWithOneWholeFile()
    {
        string cache = Path.Combine(_dir, "cache");
        string original = RealLibrary();

        var paths = Enumerable.Range(0, 4).AsParallel().WithDegreeOfParallelism(4)
            .Select(_ => TorchNativeLoader.PatchedCopy(original, cache)).ToList();

        string path = Assert.Single(paths.Distinct());
        byte[] expected = File.ReadAllBytes(original);
        TorchNativeLoader.MarkVersionWeak(expected, MissingVersion);
        Assert.Equal(expected, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void PatchedCopy_OfALibraryWithoutTheVersion_ThrowsAndWritesNothing()
    {
        byte[] bytes = File.ReadAllBytes(RealLibrary());
        // Rename the version string in place: the requirement is then absent, and the ELF stays well formed.
        byte[] needle = Encoding.ASCII.GetBytes(MissingVersion);
        for (int at = bytes.AsSpan().IndexOf(needle); at >= 0; at = bytes.AsSpan().IndexOf(needle))
            bytes[at + needle.Length - 1] = (byte)'9';
        string original = Path.Combine(_dir, "libLibTorchSharp.so");
        File.WriteAllBytes(original, bytes);
        string cache = Path.Combine(_dir, "cache");

        var e = Assert.Throws<InvalidDataException>(() => TorchNativeLoader.PatchedCopy(original, cache));

        Assert.Contains(original, e.Message);
        Assert.Contains(MissingVersion, e.Message);
        Assert.False(Directory.Exists(cache));
    }

    [Fact]
    public void FreshProcess_LoadsTorchThroughTheLibrary_AndMultiplies()
    {
        TorchNativeLoader.EnsureLoaded();
        string probe = Path.Combine(AppContext.BaseDirectory, "MLNetTuning.NativeProbe.dll");
        Assert.True(File.Exists(probe), $"NativeProbe not built next to the tests: {probe}");
        string cache = Path.Combine(_dir, "fresh-cache");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(probe);
        // An empty cache of its own: the child must write the patched copy itself, and this test process is untouched.
        start.Environment["MLNETTUNING_CACHE"] = cache;

        using var process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), "NativeProbe did not finish within 60 s");
        Assert.True(process.ExitCode == 0, $"NativeProbe exited {process.ExitCode}: {stderr.Result}{stdout.Result}");

        string[] lines = stdout.Result.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("matmul: 19 22 43 50", lines);
        string patched = Assert.Single(lines, l => l.StartsWith("patched:", StringComparison.Ordinal))["patched:".Length..].Trim();
        // This host needed the patch exactly when the test process did (same libstdc++).
        if (TorchNativeLoader.PatchedLibraryPath is null)
            Assert.Equal("", patched);
        else
        {
            Assert.StartsWith(Path.Combine(cache, "native") + Path.DirectorySeparatorChar, patched);
            Assert.True(File.Exists(patched), patched);
            Assert.Equal([patched], Directory.GetFiles(Path.GetDirectoryName(patched)!));
        }
    }

    /// <summary>The System V ELF hash, which vna_hash stores for the version name.</summary>
    private static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (byte c in Encoding.ASCII.GetBytes(name))
        {
            h = (h << 4) + c;
            uint g = h & 0xf0000000;
            if (g != 0) h ^= g >> 24;
            h &= ~g;
        }
        return h;
    }

    /// <summary>The file offset of a section found by name through e_shstrndx: a reading independent of the loader's.</summary>
    private static int SectionOffset(byte[] elf, string name)
    {
        int shoff = (int)BitConverter.ToUInt64(elf, 0x28);
        int size = BitConverter.ToUInt16(elf, 0x3A), count = BitConverter.ToUInt16(elf, 0x3C), names = BitConverter.ToUInt16(elf, 0x3E);
        int namesOffset = (int)BitConverter.ToUInt64(elf, shoff + names * size + 0x18);
        for (int i = 0; i < count; i++)
        {
            int header = shoff + i * size;
            if (ReadString(elf, namesOffset + (int)BitConverter.ToUInt32(elf, header)) == name)
                return (int)BitConverter.ToUInt64(elf, header + 0x18);
        }
        throw new InvalidOperationException($"no section {name}");
    }

    private static string ReadString(byte[] bytes, int at) => Encoding.ASCII.GetString(bytes, at, Array.IndexOf(bytes, (byte)0, at) - at);
}

/// <summary>The loader's cache folder through the process's MLNETTUNING_CACHE variable.</summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class NativeLoaderEnvironmentTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnt-native-env").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MlNetTuningCache_MovesThePatchedCopy()
    {
        string cache = Path.Combine(_dir, "cache");
        string original = NativeLoaderTests.RealLibrary();

        ProcessEnvironmentCollection.With("MLNETTUNING_CACHE", cache, () =>
        {
            Assert.Equal(cache, TorchNativeLoader.CacheRoot());
            string path = TorchNativeLoader.PatchedCopy(original);
            Assert.StartsWith(Path.Combine(cache, "native") + Path.DirectorySeparatorChar, path);
            Assert.True(File.Exists(path));
        });
        Assert.NotEqual(cache, TorchNativeLoader.CacheRoot());
    }
}
