using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>Exact tensor comparisons shared by the checkpoint tests.</summary>
internal static class TensorAsserts
{
    /// <summary>Same dtype, shape and bytes.</summary>
    public static void AssertBitEqual(Tensor expected, Tensor actual, string name)
    {
        Assert.True(expected.dtype == actual.dtype, $"{name}: dtype {actual.dtype}, expected {expected.dtype}");
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{name}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        using var e = expected.contiguous();
        using var a = actual.contiguous();
        Assert.True(e.bytes.SequenceEqual(a.bytes), $"{name}: the bytes differ");
    }

    /// <summary>Same shape and exactly the same values (float comparison, so -0 equals 0 and NaN equals nothing).</summary>
    /// <summary>
    /// Scores that must agree up to float32 rounding: oneDNN's products (the float32 linear layers) may sum in another order
    /// when the thread count or a row's place in the batch differs, which moves results by about 1e-7. A wrong weight moves
    /// them by far more.
    /// </summary>
    public static void AssertScoresAgree(IReadOnlyList<float> expected, IReadOnlyList<float> actual, float tolerance = 2e-6f)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"score {i}: expected {expected[i]}, found {actual[i]}");
    }

    public static bool SameValues(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.allclose(b, rtol: 0, atol: 0);

    public static void DisposeAll(Dictionary<string, Tensor> tensors)
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
