using System.Runtime.InteropServices;

namespace MLNetTuning.Native;

/// <summary>
/// The owner and type of a file without following a symbolic link (<c>lstat</c>), which .NET does not expose.
/// Linux x64 only, which is the only host where <see cref="TorchNativeLoader"/> writes a cache.
/// </summary>
internal static partial class UnixFiles
{
    /// <summary>What <c>lstat</c> says about a path.</summary>
    internal readonly record struct Status(uint OwnerId, uint Mode)
    {
        private const uint TypeMask = 0xF000, SymbolicLink = 0xA000, RegularFile = 0x8000, Directory = 0x4000;

        public bool IsSymbolicLink => (Mode & TypeMask) == SymbolicLink;
        public bool IsRegularFile => (Mode & TypeMask) == RegularFile;
        public bool IsDirectory => (Mode & TypeMask) == Directory;
        /// <summary>Group or others may write it (or, for a folder, replace what is inside it).</summary>
        public bool WritableByOthers => (Mode & 0x12) != 0;   // S_IWGRP | S_IWOTH
    }

    /// <summary>The effective user id of this process.</summary>
    public static uint EffectiveUserId => geteuid();

    /// <summary>lstat's owner and mode, or null when the path does not exist.</summary>
    /// <exception cref="IOException">lstat failed for another reason than a missing path.</exception>
    public static Status? LinkStatus(string path)
    {
        // struct stat on x86_64 glibc: st_mode at byte 24, st_uid at byte 28, 144 bytes in all.
        var buffer = new byte[144];
        int result;
        try { result = lstat(path, buffer); }
        catch (EntryPointNotFoundException)
        {
            // glibc before 2.33 exports lstat only as __lxstat(_STAT_VER = 1 on x86_64, ...).
            result = __lxstat(1, path, buffer);
        }
        if (result != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == 2) return null;   // ENOENT
            throw new IOException($"lstat('{path}') failed with errno {errno}.");
        }
        return new Status(BitConverter.ToUInt32(buffer, 28), BitConverter.ToUInt32(buffer, 24));
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lstat(string path, [Out] byte[] buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int __lxstat(int version, string path, [Out] byte[] buffer);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
