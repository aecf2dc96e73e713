using System.Buffers.Binary;
using System.Text;
using CsCheck;
using Xunit.Abstractions;

namespace MLNetTuning.Tests.Hostile;

/// <summary>
/// The CI pass over the parsers of downloaded files: valid seed files (fuzz/corpus) with random truncations, bit flips,
/// insertions and size-field edits, from a fixed seed, about a minute in all. Every input must load or fail with
/// <see cref="InvalidDataException"/>, and no input may allocate more than its size can justify.
/// Coverage-guided fuzzing of the same parsers, for hours instead of a minute, is fuzz/run.sh.
/// </summary>
public sealed class ParserPropertyTests(ITestOutputHelper output) : IDisposable
{
    // Fixed, so that CI runs the same inputs every time; a failure prints the seed of the shrunk input to rerun it.
    private static readonly string Seed = new PCG(20261130, 12).ToString();

    /// <summary>Managed bytes one input may allocate: a fixed allowance plus a multiple of its size (as in fuzz/).</summary>
    private const long AllowanceBytes = 64L << 20;
    private const long BytesPerInputByte = 64;

    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-props-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    // Iterations sized for about ten seconds each on a busy two-core machine; the zip target is the slowest per input.
    [Theory]
    [InlineData("safetensors", 3000)]
    [InlineData("config", 3000)]
    [InlineData("vocab", 1500)]
    [InlineData("tokenizer", 2000)]
    [InlineData("zip", 400)]
    [InlineData("onnx", 1500)]
    public void MutatedValidFiles_LoadOrFailWithInvalidData_AndStayBounded(string target, int iterations)
    {
        var seeds = Parsers.Seeds(target).Select(s => s.Bytes).ToArray();
        Assert.NotEmpty(seeds);
        foreach (var seed in seeds) Assert.Null(Parsers.Violation(target, seed, _scratch));   // the seeds themselves load

        int loaded = 0, refused = 0;
        Mutated(seeds).Sample(input =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            string? violation = Parsers.Violation(target, input, _scratch);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(violation is null, $"{target}: {input.Length}-byte input broke the contract: {violation}");
            Assert.True(allocated <= AllowanceBytes + BytesPerInputByte * input.Length,
                $"{target}: {allocated:N0} managed bytes allocated for a {input.Length:N0}-byte input");
            if (IsLoad(target, input)) loaded++; else refused++;
        }, seed: Seed, iter: iterations, threads: 1, print: input => $"{input.Length} bytes: {Convert.ToBase64String(input)}");
        output.WriteLine($"{target}: {iterations} inputs, {loaded} loaded, {refused} refused");
    }

    private bool IsLoad(string target, byte[] input)
    {
        try { Parsers.Load(target, input, _scratch); return true; }
        catch { return false; }
    }

    /// <summary>Numbers that break size arithmetic: zero, one, signed and unsigned limits, and huge counts.</summary>
    private static readonly long[] Interesting =
        [0, 1, -1, 2, 255, 256, 65535, 65536, int.MaxValue, (long)int.MaxValue + 1, uint.MaxValue, 2_000_000_000, 1L << 40, long.MaxValue, long.MinValue];

    private static readonly string[] InterestingText =
        ["0", "-1", "2000000000", "2147483648", "1e30", "99999999999999999999", "0.5", "null", "\"x\"", "[]", "{}", "true", "\"\\ud800\""];

    private enum Kind { Truncate, FlipBit, Insert, BinarySize, TextNumber }

    private sealed record Mutation(Kind Kind, int Where, int Value, int Pick);

    /// <summary>A seed file with one to four mutations applied in order.</summary>
    private static Gen<byte[]> Mutated(byte[][] seeds)
    {
        var mutation = Gen.Select(Gen.Int[0, 4], Gen.Int[0, 1_000_000], Gen.Int[0, 255], Gen.Int[0, 1000],
            (kind, where, value, pick) => new Mutation((Kind)kind, where, value, pick));
        return Gen.Select(Gen.Int[0, seeds.Length - 1], mutation.Array[1, 4], (s, ms) => ms.Aggregate(seeds[s], Apply));
    }

    private static byte[] Apply(byte[] input, Mutation m)
    {
        int at = input.Length == 0 ? 0 : (int)((long)m.Where * input.Length / 1_000_001);
        switch (m.Kind)
        {
            case Kind.Truncate:
                return input[..at];
            case Kind.FlipBit:
                if (input.Length == 0) return input;
                var flipped = (byte[])input.Clone();
                flipped[at] ^= (byte)(1 << (m.Value % 8));
                return flipped;
            case Kind.Insert:
                byte[] inserted = m.Pick % 2 == 0 ? Enumerable.Repeat((byte)m.Value, 1 + m.Pick % 17).ToArray()
                    : Encoding.UTF8.GetBytes(InterestingText[m.Pick % InterestingText.Length]);
                return [.. input[..at], .. inserted, .. input[at..]];
            case Kind.BinarySize:
                // A little-endian length or count field (safetensors' prefix, the zip pack's counts and lengths, protobuf).
                int width = m.Value % 2 == 0 ? 8 : 4;
                if (input.Length < width) return input;
                var sized = (byte[])input.Clone();
                int offset = Math.Min(at, input.Length - width);
                long number = Interesting[m.Pick % Interesting.Length];
                if (width == 8) BinaryPrimitives.WriteInt64LittleEndian(sized.AsSpan(offset), number);
                else BinaryPrimitives.WriteInt32LittleEndian(sized.AsSpan(offset), (int)number);
                return sized;
            default:
                // A number in JSON or text (a size, an id, a count) replaced by another.
                int start = Array.FindIndex(input, Math.Min(at, input.Length), b => b is >= (byte)'0' and <= (byte)'9');
                if (start < 0) return input;
                int end = start;
                while (end < input.Length && input[end] is >= (byte)'0' and <= (byte)'9') end++;
                return [.. input[..start], .. Encoding.UTF8.GetBytes(InterestingText[m.Pick % InterestingText.Length]), .. input[end..]];
        }
    }
}
