namespace MLNetTuning.Tests;

/// <summary>
/// Tests that assert bit-identical results from a seed. libtorch's random generator (dropout, initialisation) is global
/// to the process, so these tests must not run beside others that draw from it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchRandomCollection
{
    public const string Name = "Torch global random generator";
}
