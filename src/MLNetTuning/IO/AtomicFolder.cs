using System.Runtime.InteropServices;

namespace MLNetTuning.IO;

/// <summary>
/// Folders written beside their target and swapped in whole, so that the target path always names either the complete old
/// folder or the complete new one: a failure, or a kill at any instant, never leaves it half-written or missing.
/// </summary>
/// <remarks>
/// Replacing an existing folder needs an atomic exchange of two directory entries, which only some systems offer: Linux
/// (<c>renameat2</c> with <c>RENAME_EXCHANGE</c>, kernel 3.15+, glibc 2.28+) and macOS (<c>renamex_np</c> with
/// <c>RENAME_SWAP</c>). Elsewhere (Windows), and on file systems that refuse the exchange, the old folder is first renamed
/// away and the new one renamed in: two renames, between which the target is briefly missing; a kill in that gap leaves the
/// old folder beside the target under a <c>.old</c> name. A target that does not exist yet takes one rename, which is atomic
/// everywhere.
/// </remarks>
internal static partial class AtomicFolder
{
    /// <summary>
    /// Lets <paramref name="writeStaging"/> fill a new temp folder (given its path) beside <paramref name="folder"/>, then swaps it
    /// in. On failure the temp folder is removed and any earlier folder stays as it was.
    /// </summary>
    /// <exception cref="IOException"><paramref name="folder"/> names a file.</exception>
    public static void Write(string folder, Action<string> writeStaging)
    {
        folder = Path.GetFullPath(folder);
        if (File.Exists(folder)) throw new IOException($"Cannot write the folder '{folder}': a file of that name exists. Remove the file or choose another folder.");
        string parent = Path.GetDirectoryName(folder)!;
        Directory.CreateDirectory(parent);
        // In the target's own parent, so every rename below stays on one file system.
        string staging = Path.Combine(parent, $".{Path.GetFileName(folder)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        try
        {
            writeStaging(staging);
            SwapIn(staging, folder);
        }
        catch
        {
            try { if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* the original failure matters more */ }
            throw;
        }
    }

    /// <summary>
    /// Replaces <paramref name="target"/> with <paramref name="staging"/> (a sibling folder), atomically where the system can, and
    /// then deletes the old folder.
    /// </summary>
    internal static void SwapIn(string staging, string target)
    {
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return;
        }
        if (TryExchange(staging, target))
        {
            // The old folder now lives at the staging name; the new one is already in place, whatever happens next.
            try { Directory.Delete(staging, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new IOException($"The folder '{target}' was replaced, but its previous version, now at '{staging}', could not be deleted: {e.Message} " +
                    $"Delete '{staging}' by hand.", e);
            }
            return;
        }
        SwapWithTwoRenames(staging, target);
    }

    /// <summary>The fallback: rename the old folder away, then the new one in; the old one is put back if the second rename fails.</summary>
    internal static void SwapWithTwoRenames(string staging, string target)
    {
        string retired = Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.old");
        Directory.Move(target, retired);
        try { Directory.Move(staging, target); }
        catch
        {
            Directory.Move(retired, target);
            throw;
        }
        Directory.Delete(retired, recursive: true);
    }

    /// <summary>
    /// Atomically exchanges the two directory entries. False when this system or file system has no such call, so that the
    /// caller falls back to two renames; any other failure throws.
    /// </summary>
    internal static bool TryExchange(string a, string b)
    {
        if (!ExchangeSupported) return false;
        int result;
        try
        {
            if (OperatingSystem.IsLinux()) result = RenameAt2(AtFdCwd, a, AtFdCwd, b, RenameExchange);
            else if (OperatingSystem.IsMacOS()) result = RenameXNp(a, b, RenameSwap);
            else return false;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // A C library without the wrapper (glibc before 2.28): the same process will not gain it later.
            ExchangeSupported = false;
            return false;
        }
        if (result == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (IsUnsupported(errno)) return false;
        throw new IOException($"Could not swap the new folder '{a}' in for '{b}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}). " +
            $"'{b}' is unchanged; check that both exist and that their parent folder is writable.");
    }

    /// <summary>Turned off once the C library is found to lack the call, so later swaps go straight to the fallback.</summary>
    internal static bool ExchangeSupported { get; private set; } = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS();

    private const int AtFdCwd = -100;
    private const uint RenameExchange = 2;   // linux/fs.h
    private const uint RenameSwap = 2;       // macOS sys/stdio.h

    /// <summary>EINVAL: the file system does not support the flag (some network and FUSE file systems); ENOSYS: the kernel lacks the call; ENOTSUP.</summary>
    private static bool IsUnsupported(int errno) => OperatingSystem.IsMacOS() ? errno is 22 or 78 or 45 : errno is 22 or 38 or 95;

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int oldDirFd, string oldPath, int newDirFd, string newPath, uint flags);

    [LibraryImport("libc", EntryPoint = "renamex_np", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameXNp(string from, string to, uint flags);
}
