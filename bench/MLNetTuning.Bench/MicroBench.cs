using System.Diagnostics;
using MLNetTuning.Native;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace MLNetTuning.Bench;

/// <summary>
/// Times the pieces of one MiniLM layer at a training shape (forward + backward, median of 7), to find where a step goes
/// before changing anything: dropout forms, attention with and without dropout, and float32 against bfloat16 products.
/// </summary>
internal static class MicroBench
{
    public static int Run(int threads, int batch, int length)
    {
        TorchNativeLoader.EnsureLoaded();
        set_num_threads(threads);
        const int hidden = 384, heads = 12, headDim = 32, intermediate = 1536;
        var x = randn(batch, length, hidden).requires_grad_();
        var scores = randn(batch, heads, length, length).requires_grad_();
        var q = randn(batch, heads, length, headDim).requires_grad_();
        var k = randn(batch, heads, length, headDim).requires_grad_();
        var v = randn(batch, heads, length, headDim).requires_grad_();
        var mask = zeros(batch, 1, 1, length);
        var w = randn(intermediate, hidden).requires_grad_();
        var qb = q.detach().to_type(ScalarType.BFloat16).requires_grad_();
        var kb = k.detach().to_type(ScalarType.BFloat16).requires_grad_();
        var vb = v.detach().to_type(ScalarType.BFloat16).requires_grad_();
        var maskb = mask.to_type(ScalarType.BFloat16);

        using (inference_mode())
        {
            var w384 = randn(hidden, hidden);
            var w1536 = randn(intermediate, hidden);
            var xi = randn(batch, length, hidden);
            var hi = randn(batch, length, intermediate);
            Time("infer: linear 384->384", () => F.linear(xi, w384), backward: false);
            Time("infer: linear 384->1536", () => F.linear(xi, w1536), backward: false);
            Time("infer: linear 1536->384", () => F.linear(hi, w1536.t()), backward: false);
            Time("infer: matmul 384->1536 (no bias path)", () => matmul(xi, w1536.t()), backward: false);
            Time("infer: conv1x1 384->384", () => ConvLinear(xi, w384), backward: false);
            Time("infer: conv1x1 384->1536", () => ConvLinear(xi, w1536), backward: false);
            Time("infer: conv1x1 1536->384", () => ConvLinear(hi, w1536.t().contiguous()), backward: false);
            Time("infer: gelu [B,T,I]", () => F.gelu(hi), backward: false);
            Time("infer: gelu tanh [B,T,I]", () => F.gelu(hi, TorchSharp.Modules.GELU.Approximate.tanh), backward: false);
            Time("infer: layer_norm", () => F.layer_norm(xi, [hidden]), backward: false);
            Time("infer: sdpa mask", () => F.scaled_dot_product_attention(q, k, v, mask), backward: false);
            Time("infer: sdpa no mask", () => F.scaled_dot_product_attention(q, k, v), backward: false);
            var (qi, ki, vi) = (q.detach().to_type(ScalarType.BFloat16), k.detach().to_type(ScalarType.BFloat16), v.detach().to_type(ScalarType.BFloat16));
            Time("infer: sdpa bf16 mask", () => F.scaled_dot_product_attention(qi, ki, vi, maskb), backward: false);
            Time("infer: written-out attention bf16", () => MLNetTuning.Models.BertSelfAttention.Attend(qi, ki, vi, maskb, 0), backward: false);
            Time("infer: written-out attention fp32", () => MLNetTuning.Models.BertSelfAttention.Attend(q.detach(), k.detach(), v.detach(), mask, 0), backward: false);
            Time("infer: add [B,T,H]", () => xi.add(xi), backward: false);
        }
        if (Environment.GetEnvironmentVariable("MICRO_INFER_ONLY") == "1") return 0;
        Time("dropout [B,T,H] p=0.1", () => F.dropout(x, 0.1, true));
        Time("dropout [B,h,T,T] p=0.1", () => F.dropout(scores, 0.1, true));
        Time("rand_like [B,h,T,T]", () => rand_like(scores), backward: false);
        Time("randint uint8 [B,h,T,T]", () => randint(0, 256, scores.shape, ScalarType.Byte), backward: false);
        Time("bernoulli_ [B,h,T,T]", () => empty_like(scores).bernoulli_(0.9), backward: false);
        Time("sdpa p=0, mask", () => F.scaled_dot_product_attention(q, k, v, mask, 0.0));
        Time("sdpa p=0, no mask", () => F.scaled_dot_product_attention(q, k, v, null, 0.0));
        Time("sdpa p=0.1, mask", () => F.scaled_dot_product_attention(q, k, v, mask, 0.1));
        Time("sdpa bf16 p=0, mask", () => F.scaled_dot_product_attention(qb, kb, vb, maskb, 0.0));
        Time("written-out attention fp32, p=0", () => MLNetTuning.Models.BertSelfAttention.Attend(q, k, v, mask, 0));
        Time("written-out attention bf16, p=0", () => MLNetTuning.Models.BertSelfAttention.Attend(qb, kb, vb, maskb, 0));
        Time("written-out attention bf16, p=0.1", () => MLNetTuning.Models.BertSelfAttention.Attend(qb, kb, vb, maskb, 0.1));
        Time("sdpa bf16 p=0.1, mask", () => F.scaled_dot_product_attention(qb, kb, vb, maskb, 0.1));
        Tensor Manual(Tensor q, Tensor k, Tensor v, Tensor m, Func<Tensor, Tensor> drop)
        {
            var probabilities = softmax(matmul(q, k.transpose(-1, -2)).mul(1.0 / Math.Sqrt(headDim)).add(m), -1);
            return matmul(drop(probabilities), v);
        }
        Time("manual attention, F.dropout", () => Manual(q, k, v, mask, p => F.dropout(p, 0.1, true)));
        Time("manual attention, rand>p mask", () => Manual(q, k, v, mask, p => p.mul(rand_like(p).gt(0.1)).mul(1 / 0.9)));
        Time("manual attention, uint8 mask", () => Manual(q, k, v, mask, p => p.mul(randint(0, 256, p.shape, ScalarType.Byte).ge(26)).mul(1 / 0.9)));
        Time("manual attention bf16, rand>p mask", () => Manual(qb, kb, vb, maskb, p => p.mul(rand_like(p).gt(0.1)).mul(1 / 0.9)));
        Time("linear 384->1536 fp32", () => F.linear(x, w));
        var bias = zeros(intermediate).requires_grad_();
        Time("conv1x1 384->1536 fp32 +bias", () => ConvLinear(x, w, bias));
        Time("linear 384->1536 fp32 +bias", () => F.linear(x, w, bias));
        Time("linear 384->1536 bf16 (casts incl.)", () => F.linear(x.to_type(ScalarType.BFloat16), w.to_type(ScalarType.BFloat16)));
        Time("layer_norm", () => F.layer_norm(x, [hidden]));
        Time("gelu [B,T,I]", () => F.gelu(F.linear(x, w)));
        return 0;
    }

    private static Tensor ConvLinear(Tensor input, Tensor weight, Tensor? bias = null)
    {
        long tokens = input.numel() / input.shape[^1];
        var image = input.reshape(1, tokens, 1, input.shape[^1]).permute(0, 3, 1, 2);   // [1, in, T, 1], channels-last
        var y = F.conv2d(image, weight.view(weight.shape[0], weight.shape[1], 1, 1), bias);
        return y.permute(0, 2, 3, 1).reshape(input.shape[0], input.shape[1], weight.shape[0]);
    }

    private static void Time(string what, Func<Tensor> op, bool backward = true)
    {
        double Once()
        {
            using var scope = NewDisposeScope();
            long start = Stopwatch.GetTimestamp();
            var y = op();
            if (backward && y.requires_grad) y.sum().backward();
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Once();
        var raw = Enumerable.Range(0, 7).Select(_ => Once()).ToArray();
        if (Environment.GetEnvironmentVariable("MICRO_ALL") == "1") Console.WriteLine("   in order: " + string.Join(" ", raw.Select(t => t.ToString("F1"))));
        var times = raw.Order().ToArray();
        if (Environment.GetEnvironmentVariable("MICRO_ALL") == "1") Console.WriteLine("   " + string.Join(" ", times.Select(t => t.ToString("F1"))));
        Console.WriteLine($"{what,-40} median {times[3],8:F2} ms  (min {times[0]:F2}, max {times[^1]:F2}){(backward ? "  fwd+bwd" : "  fwd")}");
    }
}
