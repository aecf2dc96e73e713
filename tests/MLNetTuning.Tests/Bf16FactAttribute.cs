using MLNetTuning.Training;

namespace MLNetTuning.Tests;

/// <summary>
/// A fact that needs bfloat16 instructions. On a CPU without them it is reported as skipped, with the reason, rather than
/// passing without having run: xunit 2 reads <see cref="FactAttribute.Skip"/> when it discovers the test.
/// </summary>
public sealed class Bf16FactAttribute : FactAttribute
{
    public Bf16FactAttribute()
    {
        if (!TorchPrecision.CpuHasBf16())
            Skip = "this CPU has no bfloat16 instructions (avx512_bf16 or amx_bf16): Precision.Bf16 falls back to Fp32 here";
    }
}
