using System.Runtime.InteropServices;

namespace MLNetTuning.Native;

/// <summary>Hands pages of a read-only file mapping back to the kernel once they have been read.</summary>
/// <remarks>
/// An embedded model's ONNX export is a resource of its package's assembly, which the runtime maps into memory: reading
/// the 87 MB of MiniLM's weights out of it once leaves every page resident, and resident for the rest of the process, in
/// the working set that a user sees. MADV_PAGEOUT (Linux 5.4) reclaims those pages and keeps their content: a later read
/// faults them in again from the file. It is only advice: where the kernel refuses it, nothing changes.
/// </remarks>
internal static class MappedPages
{
    private const int MADV_PAGEOUT = 21;

    /// <summary>Advises the kernel to reclaim the whole pages inside the stream's memory (an embedded resource).</summary>
    public static unsafe void Release(Stream stream)
    {
        if (!OperatingSystem.IsLinux() || stream is not UnmanagedMemoryStream memory) return;
        long pageSize = Environment.SystemPageSize;
        // Whole pages strictly inside the resource, so that nothing beside it (another resource, metadata) is touched.
        long start = ((long)memory.PositionPointer - memory.Position + pageSize - 1) & ~(pageSize - 1);
        long end = ((long)memory.PositionPointer - memory.Position + memory.Length) & ~(pageSize - 1);
        if (end <= start) return;
        try { _ = madvise((nint)start, (nuint)(end - start), MADV_PAGEOUT); }
        catch (EntryPointNotFoundException) { }
        catch (DllNotFoundException) { }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);
}
