using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Training;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetTuning.Tests;

/// <summary>
/// The speed paths must compute what the plain ones compute: float32 linears through oneDNN, the fused QKV projection,
/// attention written out for dropout, and bfloat16 mixed precision with float32 master weights.
/// </summary>
[Collection(TorchRandomCollection.Name)]
public sealed class FastPathTests
{
    public FastPathTests() => TorchNativeLoader.EnsureLoaded();

    [Theory]
    [InlineData(new long[] { 2, 5, 8 })]
    [InlineData(new long[] { 7, 8 })]
    public void Float32LinearThroughConvolutionMatchesLinearWithGradients(long[] inputShape)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(3);
        var x = randn(inputShape).requires_grad_();
        var w = randn(6, 8).requires_grad_();
        var b = randn(6).requires_grad_();
        var fast = LinearKernel.Apply(x, w, () => (w, b), LinearKernelMode.Default);
        Assert.Equal([.. inputShape[..^1], 6], fast.shape);
        var (fastX, fastW, fastB) = Gradients(fast);
        var plain = F.linear(x, w, b);
        Assert.True(fast.allclose(plain, rtol: 1e-5, atol: 1e-5), "forward differs from F.linear");
        var (plainX, plainW, plainB) = Gradients(plain);
        Assert.True(fastX.allclose(plainX, rtol: 1e-5, atol: 1e-5) && fastW.allclose(plainW, rtol: 1e-5, atol: 1e-5) && fastB.allclose(plainB, rtol: 1e-5, atol: 1e-5),
            "gradients differ from F.linear's");

        (Tensor, Tensor, Tensor) Gradients(Tensor y)
        {
            foreach (var t in new[] { x, w, b }) t.grad?.zero_();
            // Weighted so that every output element gets a different gradient.
            y.mul(arange(y.numel()).reshape(y.shape).to_type(y.dtype)).sum().backward();
            return (x.grad!.clone(), w.grad!.clone(), b.grad!.clone());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(37)]
    [InlineData(128)]
    public void Bf16AttentionWithoutAutogradEqualsTheFloat32SoftmaxPath(int length)
    {
        using var scope = NewDisposeScope();
        random.manual_seed(6);
        var bf16 = ScalarType.BFloat16;
        var (q, k, v) = ((randn(2, 3, length, 8) * 2).to_type(bf16), (randn(2, 3, length, 8) * 2).to_type(bf16), randn(2, 3, length, 8).to_type(bf16));
        var mask = BertModel.AdditiveMask(ones(2, length, ScalarType.Int64).index_fill_(1, tensor(new long[] { length - 1 }), 0), bf16);
        using var noGrad = no_grad();
        var fast = BertSelfAttention.Attend(q, k, v, mask, dropout: 0);
        // What the training path computes: the softmax in float32, then the product in bfloat16.
        var scores = matmul(q, k.transpose(-1, -2)).mul_(1.0 / Math.Sqrt(8)).add_(mask);
        var reference = matmul(softmax(scores, -1, ScalarType.Float32).to_type(bf16), v);
        Assert.Equal(bf16, fast.dtype);
        Assert.True(fast.eq(reference).all().item<bool>(), $"length {length}: differs by {(fast - reference).abs().max().to_type(ScalarType.Float32).item<float>()}");
    }

    [Fact]
    public void AttentionWithoutDropoutMatchesFusedAttentionWithPaddingMask()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        var (q, k, v) = (randn(2, 3, 6, 4), randn(2, 3, 6, 4), randn(2, 3, 6, 4));
        var mask = BertModel.AdditiveMask(tensor(new long[,] { { 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 0, 0, 0 } }), ScalarType.Float32);
        var written = BertSelfAttention.Attend(q, k, v, mask, dropout: 0);
        var fused = F.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        Assert.True(written.allclose(fused, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void AttentionDropoutZeroesSomeProbabilitiesAndKeepsTheExpectation()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(7);
        // Values of one: without dropout every output is exactly 1 (probabilities sum to 1); with dropout p each output is
        // a sum of kept probabilities scaled by 1/(1-p), so outputs vary around 1 with mean 1.
        var (q, k, v) = (randn(8, 4, 32, 8), randn(8, 4, 32, 8), ones(8, 4, 32, 8));
        var output = BertSelfAttention.Attend(q, k, v, null, dropout: 0.3);
        Assert.True(output.std().item<float>() > 0.05f, "dropout changed nothing");
        Assert.InRange(output.mean().item<float>(), 0.95f, 1.05f);
    }

    [Fact]
    public void Bf16KeepsFloat32MasterWeightsAndStaysCloseToFloat32()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(11);
        using var model = new BertForSequenceClassification(TinyBert.Config(labels: 3, hidden: 64, heads: 4));
        model.eval();
        var ids = randint(1, 100, [4, 12]);
        var mask = ones(4, 12, ScalarType.Int64);
        mask[1, 8..] = zeros(4, ScalarType.Int64);
        var full = model.Forward(ids, mask);
        model.Precision = NumericPrecision.Bf16;
        var mixed = model.Forward(ids, mask);
        Assert.Equal(ScalarType.Float32, mixed.dtype);
        // bfloat16 keeps 8 bits of mantissa: logits of this size agree to about 1e-2, not 1e-6.
        float gap = (mixed - full).abs().max().item<float>();
        Assert.InRange(gap, 1e-7f, 5e-2f);

        model.train();
        model.Loss(model.Forward(ids, mask), tensor(new long[] { 0, 1, 2, 1 })).backward();
        foreach (var (name, parameter) in model.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, parameter.dtype);
            Assert.True(parameter.grad is { } grad && grad.dtype == ScalarType.Float32, $"{name} got no float32 gradient");
        }
    }

    [Fact]
    public void Bf16FallsBackToFloat32WithAWarningWhereTheCpuLacksIt()
    {
        var warnings = new List<string>();
        Assert.Equal(NumericPrecision.Fp32, TorchPrecision.Resolve(NumericPrecision.Bf16, CPU, warnings.Add, () => "flags\t: fpu sse2 avx2 avx512f"));
        Assert.Contains("Precision is Bf16", Assert.Single(warnings));
        Assert.Equal(NumericPrecision.Bf16, TorchPrecision.Resolve(NumericPrecision.Bf16, CPU, warnings.Add, () => "flags\t: avx512f avx512_bf16"));
        Assert.Equal(NumericPrecision.Fp32, TorchPrecision.Resolve(NumericPrecision.Fp32, CPU, warnings.Add, () => "flags\t: avx512_bf16"));
        Assert.Single(warnings);
    }

    [Fact]
    public void GlibcAllocatorIsTunedOnLinux()
    {
        Assert.Equal(OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("MLNETTUNING_MALLOC") != "default", NativeAllocator.Tuned);
    }
}

[Collection(TorchRandomCollection.Name)]
public sealed class FastDropoutTests
{
    public FastDropoutTests() => TorchNativeLoader.EnsureLoaded();

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    public void KeepsTheRightShareScalesAndRepeatsUnderASeed(double p)
    {
        using var scope = NewDisposeScope();
        var input = ones(3, 1000, 7);
        random.manual_seed(42);
        var first = FastDropout.Apply(input, p, training: true);
        float kept = first.gt(0).to_type(ScalarType.Float32).mean().item<float>();
        // 21,000 draws: the kept share is within 4 standard deviations of 1 - p.
        double sd = Math.Sqrt(p * (1 - p) / input.numel());
        Assert.InRange(kept, 1 - p - 4 * sd, 1 - p + 4 * sd);
        Assert.Equal(1.0, first.mean().item<float>(), 0.03);
        Assert.True(first.gt(0).all().item<bool>() == false && first.max().item<float>() > 1f);
        random.manual_seed(42);
        Assert.True(first.equal(FastDropout.Apply(input, p, training: true)).all().item<bool>(), "same seed, different mask");
        Assert.False(first.equal(FastDropout.Apply(input, p, training: true)).all().item<bool>(), "next mask repeats the last");
    }

    [Fact]
    public void IsTheIdentityOutsideTrainingAndPassesGradientsThroughTheMask()
    {
        using var scope = NewDisposeScope();
        var x = randn(4, 9).requires_grad_();
        Assert.Same(x, FastDropout.Apply(x, 0.3, training: false));
        Assert.Same(x, FastDropout.Apply(x, 0, training: true));
        var y = FastDropout.Apply(x, 0.3, training: true);
        y.sum().backward();
        // d(sum)/dx is the scale where kept and 0 where dropped: exactly y / x.
        Assert.True(x.grad!.allclose(y.detach() / x.detach(), rtol: 1e-5, atol: 1e-6));
    }
}
