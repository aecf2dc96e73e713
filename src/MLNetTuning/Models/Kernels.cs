using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetTuning.Models;

// Building blocks that every model family shares: linear layers on the fastest kernel, mixed precision and dropout.
//
// Scalar lifetime. A TorchSharp call such as a.add(b) or t.mul_(0.5) turns its number (add's implicit alpha of 1 included)
// into a temporary Scalar and passes only its native handle; from that point the JIT may treat the managed object as
// dead, and if a garbage collection runs its finalizer before libtorch has read the value, libtorch reads freed memory:
// "Expected false to be true ... toFloat" (Scalar.h). CI hit it once, in a residual add, while ML.NET's cache thread
// scored a token-classification model and the test thread allocated beside it. The encoder's forward pass therefore
// passes scalars held in `using` locals, which stay reachable until the call has returned.

/// <summary>
/// How a model's linear layers run. <see cref="ComputeType"/>: the type of the matrix products (bfloat16 for mixed
/// precision), or null for the weights' own type; TorchSharp has no autocast, so mixed precision lives here: products in
/// the low type, everything that sums many terms in float32. <see cref="Prepared"/>: for a model that is only scored, the
/// weights kept ready for oneDNN (<see cref="PreparedWeights"/>), or null.
/// </summary>
internal sealed record LinearKernelMode(ScalarType? ComputeType, PreparedWeights? Prepared)
{
    public static readonly LinearKernelMode Default = new(null, null);
}

/// <summary>A module whose linear layers run through <see cref="LinearKernel"/>; the encoder sets one mode for all of them.</summary>
internal interface ILinearKernelUser
{
    LinearKernelMode Kernel { get; set; }
}

/// <summary>The encoder's linear layers, routed to the fastest kernel libtorch has for their type and device.</summary>
internal static class LinearKernel
{
    /// <summary><paramref name="layer"/> on [..., in] inputs, then <paramref name="activation"/> (a config's <c>hidden_act</c>) if given.</summary>
    public static Tensor Apply(Linear layer, Tensor input, LinearKernelMode mode, string? activation = null) =>
        Apply(input, layer, () => (layer.weight!, layer.bias), mode, activation);

    /// <summary>
    /// x·Wᵀ + b for [..., in] inputs, then <paramref name="activation"/> if given, for the weights that
    /// <paramref name="weights"/> gives (<paramref name="owner"/>, the module they belong to, keys their prepared copy).
    /// A model that is only scored runs on prepared weights with the activation fused where it can
    /// (<see cref="PreparedWeights"/>). Otherwise, with a compute type (mixed precision) the input and a cast copy of the
    /// float32 master weights go into one low-precision product, and autograd carries the gradient back to the float32
    /// weights; float32 on the CPU runs as a pointwise convolution (see <see cref="AsPointwiseConvolution"/>).
    /// </summary>
    public static Tensor Apply(Tensor input, object owner, Func<(Tensor Weight, Tensor? Bias)> weights, LinearKernelMode mode, string? activation = null)
    {
        using var scope = NewDisposeScope();
        if (mode.Prepared?.TryApply(owner, weights, input, mode.ComputeType, activation) is { } prepared)
            return prepared.MoveToOuterDisposeScope();
        var (weight, bias) = weights();
        Tensor output;
        if (mode.ComputeType is ScalarType low && low != weight.dtype)
            output = F.linear(input.to_type(low), weight.to_type(low), bias?.to_type(low));
        else if (weight.dtype == ScalarType.Float32 && weight.device_type == DeviceType.CPU)
            output = AsPointwiseConvolution(input, weight, bias);
        else
            output = F.linear(input, weight, bias);
        if (activation is not null) output = Activations.Apply(activation, output);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// [..., in] rows as the [1, in, rows, 1] image of a 1×1 convolution, in channels-last strides: the memory layout of
    /// [rows, in] itself, so nothing is copied.
    /// </summary>
    internal static Tensor AsImage(Tensor input, long rows, long features) => input.reshape(1, rows, 1, features).permute(0, 3, 1, 2);

    /// <summary>
    /// A float32 linear layer as a 1×1 convolution over the tokens, in channels-last layout, which is the memory layout of
    /// [tokens, features] itself, so nothing is copied. libtorch sends float32 matrix products to MKL, whose SGEMM falls
    /// back to slower code on non-Intel CPUs (on this project's AMD EPYC: 61–155 GFLOP/s on 2 threads), while it sends
    /// convolutions to oneDNN, which picks its kernels from the CPU's instruction sets (about 220 GFLOP/s on the same
    /// shapes). bench/README.md has the measurements.
    /// </summary>
    private static Tensor AsPointwiseConvolution(Tensor input, Tensor weight, Tensor? bias)
    {
        long features = input.shape[^1], tokens = input.numel() / features, outputs = weight.shape[0];
        var image = AsImage(input, tokens, features);
        var output = F.conv2d(image, weight.view(outputs, features, 1, 1), bias);
        var shape = input.shape.ToArray();
        shape[^1] = outputs;
        return output.permute(0, 2, 3, 1).reshape(shape);
    }
}

/// <summary>
/// Dropout whose keep-mask is drawn in C# instead of by libtorch's bernoulli_, which on the CPU draws one number at a time
/// on one thread (about 5 ns an element here: 150 ms of a 0.6 s MiniLM training step at 16×128). Here a xoshiro256**
/// stream gives four 16-bit draws per 64-bit number, on all cores, seeded from torch's generator so that
/// <c>manual_seed</c> still makes a run repeatable.
/// </summary>
internal static class FastDropout
{
    /// <summary>
    /// <paramref name="input"/> with each element kept with probability 1 − p (scaled by 1/(1 − p)) and zeroed otherwise;
    /// <paramref name="input"/> itself outside training or for p = 0. p is rounded to a multiple of 1/65536 and the scale
    /// uses the rounded value, so the expectation is exact.
    /// </summary>
    public static Tensor Apply(Tensor input, double p, bool training)
    {
        if (!training || p <= 0) return input;
        using var scope = NewDisposeScope();
        // At most 65535, so that at least one draw in 65536 is kept and the scale stays finite for p just below 1.
        int threshold = Math.Min(65535, (int)Math.Round(p * 65536));
        var keep = KeepMask(input.shape, threshold).to(input.device);
        // Multiplying by a bool mask keeps the 1-byte mask (not a float copy) for the backward pass.
        using var rescale = (65536.0 / (65536 - threshold)).ToScalar();   // a using local: see "Scalar lifetime" in Kernels.cs
        return input.mul(keep).mul_(rescale).MoveToOuterDisposeScope();
    }

    /// <summary>A bool tensor of <paramref name="shape"/>: true where a uniform 16-bit draw is at least <paramref name="threshold"/>.</summary>
    internal static unsafe Tensor KeepMask(long[] shape, int threshold)
    {
        var mask = empty(shape, ScalarType.Bool);
        long count = mask.numel();
        // One seed from torch's generator per mask: repeatable under manual_seed, different for every mask.
        ulong seed = (ulong)randint(0, long.MaxValue, [1], ScalarType.Int64).item<long>();
        // The span is over the tensor's own native memory (a fresh contiguous tensor), which the GC never moves.
        byte* data;
        fixed (byte* native = mask.bytes) data = native;
        const long ChunkSize = 1 << 16;   // a multiple of 4, so that every chunk but the last uses whole 64-bit draws
        long chunks = (count + ChunkSize - 1) / ChunkSize;
        Parallel.For(0L, chunks, chunk =>
        {
            long start = chunk * ChunkSize, end = Math.Min(count, start + ChunkSize);
            var random = new Xoshiro256StarStar(seed, (ulong)chunk);
            for (long i = start; i < end; i += 4)
            {
                ulong bits = random.Next();
                for (int lane = 0; lane < 4 && i + lane < end; lane++, bits >>= 16)
                    data[i + lane] = (ushort)bits >= threshold ? (byte)1 : (byte)0;
            }
        });
        return mask;
    }

    /// <summary>xoshiro256** (Blackman and Vigna), its state filled by SplitMix64 from a seed and a stream number.</summary>
    private struct Xoshiro256StarStar
    {
        private ulong _s0, _s1, _s2, _s3;

        public Xoshiro256StarStar(ulong seed, ulong stream)
        {
            ulong x = seed ^ (stream * 0xD1B54A32D192ED03UL);
            _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
        }

        private static ulong SplitMix(ref ulong x)
        {
            ulong z = x += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        public ulong Next()
        {
            ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
            ulong t = _s1 << 17;
            _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
            _s2 ^= t;
            _s3 = ulong.RotateLeft(_s3, 45);
            return result;
        }
    }
}
