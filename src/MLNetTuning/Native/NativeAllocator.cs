using System.Runtime.InteropServices;

namespace MLNetTuning.Native;

/// <summary>
/// Keeps glibc from handing tensor memory back to the kernel after every step, where training would fault it in again.
/// </summary>
/// <remarks>
/// libtorch allocates every activation and gradient with malloc. glibc serves large blocks with fresh mmap calls and trims
/// freed heap tops, so each training step and each scoring batch first touches megabytes of new pages. Under
/// virtualisation a page fault costs microseconds, and on this project's 2-core VM that made a MiniLM training step about
/// 25% slower and a 12.6 MB GELU output 30 times slower than the same op on reused memory (bench/README.md). With mmap off
/// and trimming only above 1 GB, freed blocks are reused by the next step instead; peak memory is unchanged, but the
/// process keeps what it used until it exits. Set MLNETTUNING_MALLOC=default to keep glibc's defaults.
/// </remarks>
internal static class NativeAllocator
{
    private const int M_TRIM_THRESHOLD = -1, M_TOP_PAD = -2, M_MMAP_THRESHOLD = -3, M_MMAP_MAX = -4, M_ARENA_MAX = -8;

    public static bool Tuned { get; private set; }

    public static void TuneForTraining()
    {
        string? setting = Environment.GetEnvironmentVariable("MLNETTUNING_MALLOC");
        if (!OperatingSystem.IsLinux() || setting == "default") return;
        try
        {
            if (!string.IsNullOrEmpty(setting))
            {
                // An explicit list of glibc settings (name=value,...), for measuring alternatives (bench memory --variant).
                bool all = true;
                foreach (var pair in setting.Split(','))
                {
                    var kv = pair.Split('=', 2);
                    int parameter = kv[0] switch
                    {
                        "trim_threshold" => M_TRIM_THRESHOLD, "top_pad" => M_TOP_PAD, "mmap_threshold" => M_MMAP_THRESHOLD,
                        "mmap_max" => M_MMAP_MAX, "arena_max" => M_ARENA_MAX,
                        _ => throw new ArgumentException($"MLNETTUNING_MALLOC: unknown setting '{kv[0]}' in '{setting}'; expected 'default' or name=value pairs of trim_threshold, top_pad, mmap_threshold, mmap_max, arena_max."),
                    };
                    all &= kv.Length == 2 && int.TryParse(kv[1], out int value) && mallopt(parameter, value) == 1;
                }
                Tuned = all;
                return;
            }
            // Large blocks that glibc cannot place in a thread's own arena still fall back to mmap, so nothing fails.
            Tuned = mallopt(M_MMAP_MAX, 0) == 1
                & mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
                & mallopt(M_TOP_PAD, 64 << 20) == 1;
        }
        catch (EntryPointNotFoundException)
        {
            // Not glibc (musl has no mallopt): its allocator keeps its own policy.
        }
        catch (DllNotFoundException)
        {
        }
    }

    /// <summary>
    /// Hands the free memory that glibc keeps back to the kernel (malloc_trim), once training is over: the tuning keeps every
    /// freed block for the next step, and after the last step that is the optimizer's moments, the gradients and the holes
    /// that the steps' activations left. Scoring afterwards (a test set at the scoring batch size, whose blocks are larger than
    /// a training step's and do not fit in those holes) would otherwise grow the process on top of all of it.
    /// </summary>
    public static void ReleaseFreeMemory()
    {
        if (!Tuned) return;
        try { _ = malloc_trim(0); }
        catch (EntryPointNotFoundException) { }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int malloc_trim(nuint pad);

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
