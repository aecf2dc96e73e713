using System.Globalization;
using System.Runtime.InteropServices;

namespace MLNetTuning.Native;

/// <summary>
/// An opt-in report of where a run's memory goes, phase by phase (load, tokenize, train, evaluate, test, save): the peak
/// resident set of each phase, what is still resident at its end, glibc's own view (bytes in use and bytes free but kept),
/// the managed heap and the tensors the thread holds.
/// </summary>
/// <remarks>
/// Set MLNETTUNING_MEMORY_PHASES to a file path to get one tab-separated line per phase end (the bench's memory job reads
/// them), or to "-" for standard error. Each line resets the kernel's peak mark (VmHWM, by writing 5 to
/// /proc/self/clear_refs), so the next line's peak is that phase's own; <see cref="PeakBytes"/> keeps the run's overall peak,
/// which the reset would otherwise hide from Process.PeakWorkingSet64. Off (the default), every call is one field read.
/// </remarks>
internal static class MemoryPhases
{
    /// <summary>The column names of the lines, in order.</summary>
    public const string Header = "phase\tpeak_mb\tresident_mb\tmalloc_used_mb\tmalloc_free_mb\tmanaged_mb\tmanaged_committed_mb\tlive_tensors";

    private static readonly string? Target = Environment.GetEnvironmentVariable("MLNETTUNING_MEMORY_PHASES") is { Length: > 0 } target ? target : null;
    private static readonly object Gate = new();
    private static long _peak;

    public static bool Enabled => Target is not null;

    /// <summary>The largest peak resident set among the phases reported so far (0 when off).</summary>
    public static long PeakBytes => Interlocked.Read(ref _peak);

    /// <summary>Reports the phase that just ended and starts measuring the next one's peak.</summary>
    public static void End(string phase)
    {
        if (Target is null || !OperatingSystem.IsLinux()) return;
        lock (Gate)
        {
            var (resident, peak) = Resident();
            _peak = Math.Max(_peak, peak);
            var (used, free) = Malloc();
            var gc = GC.GetGCMemoryInfo();
            string line = string.Join('\t', phase, Mb(peak), Mb(resident), Mb(used), Mb(free), Mb(GC.GetTotalMemory(false)), Mb(gc.TotalCommittedBytes),
                TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount.ToString(CultureInfo.InvariantCulture));
            if (Target == "-") Console.Error.WriteLine(line);
            else
            {
                bool fresh = !File.Exists(Target);
                File.AppendAllText(Target, (fresh ? Header + "\n" : "") + line + "\n");
            }
            try { File.WriteAllText("/proc/self/clear_refs", "5"); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>VmRSS and VmHWM of /proc/self/status, in bytes.</summary>
    public static (long Resident, long Peak) Resident()
    {
        long resident = 0, peak = 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) resident = Kilobytes(line) * 1024;
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kilobytes(line) * 1024;
        }
        return (resident, peak);

        static long Kilobytes(string line) => long.Parse(line.Split(':')[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>glibc's bytes in use (heap and mmapped) and free bytes it keeps in its arenas; zeros off glibc.</summary>
    private static (long Used, long Free) Malloc()
    {
        try
        {
            var info = mallinfo2();
            return ((long)(info.uordblks + info.hblkhd), (long)info.fordblks);
        }
        catch (EntryPointNotFoundException) { return (0, 0); }
        catch (DllNotFoundException) { return (0, 0); }
    }

    private static string Mb(long bytes) => (bytes / (1024.0 * 1024)).ToString("F0", CultureInfo.InvariantCulture);

    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    private static extern MallInfo2 mallinfo2();
}
