using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace MLNetTuning.Native;

/// <summary>
/// Makes TorchSharp's native backend load on any glibc ≥ 2.29 Linux, with nothing for the user to do.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's <c>libLibTorchSharp.so</c> asks for <c>GLIBCXX_3.4.32</c> (GCC 13's libstdc++), which
/// Debian 12, RHEL 9 and Ubuntu 22.04 lack. The only symbol under that version is
/// <c>std::ios_base_library_init</c>, a link-time marker that is never called. So where the host's libstdc++ is
/// too old, we load a <em>copy</em> of the library whose one <c>GLIBCXX_3.4.32</c> requirement is marked weak,
/// after libtorch's own libraries, before TorchSharp initialises; TorchSharp then takes the loaded library.
/// The copy lives in a per-user cache keyed by the original's hash. Originals (NuGet cache, app folder, system
/// libraries) are never modified.
/// </remarks>
internal static class TorchNativeLoader
{
    private const string TorchSharpLibrary = "libLibTorchSharp.so";
    private const string MissingVersion = "GLIBCXX_3.4.32";
    // libtorch's libraries in dependency order; each one's RUNPATH is $ORIGIN, so its own dependencies
    // (libgomp) resolve from the same folder.
    private static readonly string[] LibTorchLibraries = ["libc10.so", "libtorch_cpu.so", "libtorch.so"];

    private static readonly object Gate = new();
    private static bool _done;
    private static Exception? _failure;

    /// <summary>Runs when any type of this library is first used, which is before the library touches torch.</summary>
    // CA2255 warns libraries off module initializers; here one is exactly right: it runs before our code touches torch.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void InitializeOnFirstUse()
    {
        try { EnsureLoaded(); }
        catch
        {
            // Never throw from a module initializer (it would surface as an opaque TypeInitializationException);
            // the failure is kept and rethrown, with its explanation, by the next explicit EnsureLoaded call.
        }
    }

    /// <summary>Loads the native backend once per process; throws an explanation of what was tried on failure.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_failure is not null) throw _failure;
            if (_done) return;
            try
            {
                if (OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64)
                    LoadOnLinux();
                NativeAllocator.TuneForTraining();
                _done = true;
            }
            catch (Exception e)
            {
                _failure = e;
                throw;
            }
        }
    }

    /// <summary>Where the patched copy is (or was) written; null when the host needed no patch.</summary>
    internal static string? PatchedLibraryPath { get; private set; }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static void LoadOnLinux()
    {
        var tried = new List<string>();
        var searchDirs = CandidateDirectories().ToList();
        string? torchSharpLib = FindFile(TorchSharpLibrary, searchDirs, tried);
        string? libTorchDir = LibTorchLibraries.All(f => FindFile(f, searchDirs, tried) is not null)
            ? Path.GetDirectoryName(FindFile(LibTorchLibraries[0], searchDirs, tried)!)
            : null;

        if (torchSharpLib is null || libTorchDir is null)
        {
            // No backend package is present at all (a library-only build): leave it to TorchSharp, whose own
            // error names the missing package. Nothing we could load would help.
            return;
        }
        // The cuda backend ships the same file names; take libtorch's libraries from the folder we found them in.
        foreach (var lib in LibTorchLibraries)
        {
            var path = Path.Combine(libTorchDir, lib);
            if (!File.Exists(path)) path = FindFile(lib, searchDirs, tried)!;
            NativeLibrary.Load(path);
        }

        if (NativeLibrary.TryLoad(torchSharpLib, out _)) return;   // the host's libstdc++ is new enough

        string patched;
        try { patched = PatchedCopy(torchSharpLib); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw Failure($"could not write a patched copy of {torchSharpLib}: {e.Message}", tried, e);
        }
        try
        {
            NativeLibrary.Load(patched);
            PatchedLibraryPath = patched;
        }
        catch (DllNotFoundException e)
        {
            throw Failure($"loading the patched copy {patched} failed: {e.Message}", tried, e);
        }
    }

    private static InvalidOperationException Failure(string what, List<string> tried, Exception inner) => new(
        $"TorchSharp's native backend could not be loaded: {what}{Environment.NewLine}" +
        $"Looked in: {string.Join(", ", tried.Distinct())}{Environment.NewLine}" +
        "Check that the app references a backend package (TorchSharp-cpu, or TorchSharp-cuda-linux with " +
        "-p:TorchBackend=cuda), that the host's glibc is 2.29 or newer, and that the cache folder " +
        $"{CacheRoot()} is writable (set MLNETTUNING_CACHE to move it).", inner);

    /// <summary>Every folder where a framework-dependent app, a test host, a NuGet consumer or a notebook kernel
    /// may keep TorchSharp's and libtorch's native files.</summary>
    private static IEnumerable<string> CandidateDirectories()
    {
        const string rid = "runtimes/linux-x64/native";
        var torchSharpDir = Path.GetDirectoryName(typeof(TorchSharp.torch).Assembly.Location);
        var roots = new List<string?> { torchSharpDir, AppContext.BaseDirectory, Path.GetDirectoryName(typeof(TorchNativeLoader).Assembly.Location) };
        foreach (var root in roots.Where(r => !string.IsNullOrEmpty(r)))
        {
            yield return root!;
            yield return Path.Combine(root!, rid);
        }
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string probing)
            foreach (var dir in probing.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
                yield return dir;
        // In the NuGet cache TorchSharp.dll sits in torchsharp/<v>/lib/net8.0; its native file in ../../runtimes.
        if (torchSharpDir is not null)
            yield return Path.GetFullPath(Path.Combine(torchSharpDir, "..", "..", rid));
        // A notebook kernel resolves packages straight from the NuGet cache and probes no native folders.
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var torchSharpVersion = typeof(TorchSharp.torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0];
        if (torchSharpVersion is not null)
            yield return Path.Combine(packages, "torchsharp", torchSharpVersion, rid);
        if (Directory.Exists(packages))
            foreach (var package in Directory.EnumerateDirectories(packages, "libtorch-*-linux-x64"))
                foreach (var version in Directory.EnumerateDirectories(package).OrderDescending())
                    yield return Path.Combine(version, rid);
    }

    private static string? FindFile(string name, IEnumerable<string> dirs, List<string> tried)
    {
        foreach (var dir in dirs)
        {
            tried.Add(dir);
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    internal static string CacheRoot() =>
        Environment.GetEnvironmentVariable("MLNETTUNING_CACHE") is { Length: > 0 } custom ? custom
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "mlnettuning");

    /// <summary>
    /// Returns the cached patched copy of <paramref name="original"/>, after checking that it is exactly the bytes this
    /// process would write; writes it (atomically) when absent, and rewrites it when it is not those bytes.
    /// </summary>
    /// <remarks>
    /// The copy is loaded into the process as native code, so it is trusted only as far as it is checked: its SHA-256 must
    /// be that of the original with the one flag set (a copy torn by a crash or a full disk, or changed by anyone, is
    /// replaced instead of failing every later start), it must be a regular file owned by this user (not a symbolic link
    /// someone planted), and its folder must be this user's and writable by no one else, so that nothing can swap the file
    /// between the check and the load.
    /// </remarks>
    /// <param name="original">The unmodified libLibTorchSharp.so.</param>
    /// <param name="cacheRoot">The cache folder; null means <see cref="CacheRoot"/>.</param>
    /// <exception cref="InvalidDataException">The original has no requirement to relax.</exception>
    /// <exception cref="IOException">The cache folder is a symbolic link or belongs to another user.</exception>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    internal static string PatchedCopy(string original, string? cacheRoot = null)
    {
        byte[] bytes = File.ReadAllBytes(original);
        string hash = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        if (!MarkVersionWeak(bytes, MissingVersion))
            throw new InvalidDataException($"{original} has no '{MissingVersion}' requirement to relax, so the load failure has another cause.");
        byte[] expectedHash = SHA256.HashData(bytes);

        string dir = Path.Combine(cacheRoot ?? CacheRoot(), "native", hash);
        string target = Path.Combine(dir, TorchSharpLibrary);
        CreatePrivateFolder(dir);
        if (IsExpectedCopy(target, expectedHash, out string? problem)) return target;

        if (problem is not null) File.Delete(target);   // torn, changed, a link or someone else's: replace it
        // Write beside the target and rename: a second process starting at once either sees no file or a whole one.
        string temp = Path.Combine(dir, $".{TorchSharpLibrary}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        File.WriteAllBytes(temp, bytes);
        try { File.Move(temp, target, overwrite: false); }
        catch (IOException) when (File.Exists(target)) { File.Delete(temp); }   // another process won the race
        if (!IsExpectedCopy(target, expectedHash, out problem))
            throw new IOException($"The patched copy {target} could not be written correctly: {problem}. Check the disk, or set MLNETTUNING_CACHE to another folder.");
        return target;
    }

    /// <summary>True when <paramref name="path"/> is this user's regular file with the expected SHA-256; otherwise
    /// <paramref name="problem"/> says what is wrong (null when the file is simply absent).</summary>
    private static bool IsExpectedCopy(string path, byte[] expectedHash, out string? problem)
    {
        problem = null;
        if (UnixFiles.LinkStatus(path) is not { } status) return false;
        if (status.IsSymbolicLink) problem = "it is a symbolic link";
        else if (!status.IsRegularFile) problem = "it is not a regular file";
        else if (status.OwnerId != UnixFiles.EffectiveUserId) problem = $"it belongs to user id {status.OwnerId}, not {UnixFiles.EffectiveUserId}";
        else
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            if (!SHA256.HashData(stream).AsSpan().SequenceEqual(expectedHash)) problem = "its content is not the patched library (a torn or changed copy)";
        }
        return problem is null;
    }

    /// <summary>Creates the folder (and the <c>native</c> folder above it) readable and writable by this user only, or
    /// checks that an existing one is this user's and not a link, tightening its permissions if others may write it.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static void CreatePrivateFolder(string dir)
    {
        const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        foreach (string folder in new[] { Path.GetDirectoryName(dir)!, dir })
        {
            Directory.CreateDirectory(folder, Private);
            var status = UnixFiles.LinkStatus(folder) ?? throw new IOException($"The cache folder {folder} vanished while it was being created.");
            if (status.IsSymbolicLink || !status.IsDirectory || status.OwnerId != UnixFiles.EffectiveUserId)
                throw new IOException(
                    $"The cache folder {folder} is {(status.IsSymbolicLink ? "a symbolic link" : !status.IsDirectory ? "not a folder" : $"owned by user id {status.OwnerId}")}; " +
                    "a native library is loaded from it only when it is this user's own folder. Remove it, or set MLNETTUNING_CACHE to a folder of your own.");
            if (status.WritableByOthers) File.SetUnixFileMode(folder, Private);
        }
    }

    /// <summary>Sets VER_FLG_WEAK on the Vernaux entry named <paramref name="version"/> in an ELF64 image.</summary>
    /// <exception cref="InvalidDataException">Not a little-endian ELF64 image, or one whose offsets point outside it.</exception>
    internal static bool MarkVersionWeak(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");
        // Every offset below comes from the file; a truncated or corrupt one must fail as bad data, not as an index error.
        try { return MarkVersionWeakUnchecked(elf, version); }
        catch (Exception e) when (e is ArgumentException or OverflowException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"a truncated or corrupt ELF64 file: an offset in its section headers or version requirements points outside its {elf.Length} bytes", e);
        }
    }

    private static bool MarkVersionWeakUnchecked(byte[] elf, string version)
    {
        const uint ShtGnuVerneed = 0x6ffffffe;
        const ushort VerFlagWeak = 0x2;
        var span = elf.AsSpan();
        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            int offset = checked((int)BitConverter.ToUInt64(elf, sh + 0x18));
            int link = (int)BitConverter.ToUInt32(elf, sh + 0x28);
            int strtab = checked((int)BitConverter.ToUInt64(elf, checked((int)shoff + link * shentsize) + 0x18));
            // sh_info counts the Verneed entries; bounding the walk by it stops a corrupt vn_next from looping forever.
            uint needCount = BitConverter.ToUInt32(elf, sh + 0x2C);
            for (int need = offset, n = 0; n < needCount; n++)
            {
                int count = BitConverter.ToUInt16(elf, need + 2);
                int aux = need + (int)BitConverter.ToUInt32(elf, need + 8);
                for (int a = 0; a < count; a++)
                {
                    int name = strtab + (int)BitConverter.ToUInt32(elf, aux + 8);
                    int end = span[name..].IndexOf((byte)0);
                    if (Encoding.ASCII.GetString(elf, name, end) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, aux + 4);
                        BitConverter.TryWriteBytes(span.Slice(aux + 4, 2), (ushort)(flags | VerFlagWeak));
                        return true;
                    }
                    uint nextAux = BitConverter.ToUInt32(elf, aux + 12);
                    if (nextAux == 0) break;
                    aux += (int)nextAux;
                }
                uint next = BitConverter.ToUInt32(elf, need + 12);
                if (next == 0) break;
                need += (int)next;
            }
        }
        return false;
    }
}
