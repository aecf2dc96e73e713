using MLNetTuning.Native;
using SharpFuzz;

namespace MLNetTuning.Fuzz;

/// <summary>
/// The fuzzing entry point. <c>MLNetTuning.Fuzz TARGET</c> runs one target under afl-fuzz (through SharpFuzz's
/// out-of-process loop); <c>MLNetTuning.Fuzz TARGET --replay FILE|DIR...</c> runs inputs once each and prints what every
/// one did (to reproduce a finding); <c>MLNetTuning.Fuzz --make-corpus DIR</c> writes the seed corpus.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--make-corpus")
        {
            Seeds.Write(args[1]);
            return 0;
        }
        if (args.Length == 0 || !Targets.All.TryGetValue(args[0], out var target))
        {
            Console.Error.WriteLine($"usage: MLNetTuning.Fuzz TARGET [--replay FILE|DIR...] | --make-corpus DIR; targets: {string.Join(", ", Targets.All.Keys)}");
            return 2;
        }
        // Native libraries load before the first input, so that no execution pays for it and none is timed with it.
        TorchNativeLoader.EnsureLoaded();
        TorchSharp.torch.set_num_threads(1);
        target.Prepare();
        if (args.Length > 1 && args[1] == "--replay") return Replay(target, args.Skip(2));
        Fuzzer.OutOfProcess.Run(stream => target.Run(ReadAll(stream)));
        return 0;
    }

    private static int Replay(Target target, IEnumerable<string> paths)
    {
        int failures = 0;
        var files = paths.SelectMany(p => Directory.Exists(p) ? Directory.GetFiles(p).Order(StringComparer.Ordinal).ToArray() : new[] { p });
        foreach (var file in files)
        {
            try
            {
                string outcome = target.Run(File.ReadAllBytes(file));
                Console.WriteLine($"{Path.GetFileName(file)}: {outcome}");
            }
            catch (Exception e)
            {
                failures++;
                Console.WriteLine($"{Path.GetFileName(file)}: FINDING {e}");
            }
        }
        return failures == 0 ? 0 : 1;
    }

    private static byte[] ReadAll(Stream stream)
    {
        var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
