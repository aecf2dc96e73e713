using System.Reflection;
using Microsoft.ML;

namespace MLNetTuning.MlNet;

/// <summary>
/// Identifies a transformer's section of an ML.NET model zip: what it is, who loads it and which layout it has.
/// </summary>
/// <param name="Signature">Exactly 8 ASCII characters stored in the header (e.g. <c>"LINHEAD "</c>); a load checks it.</param>
/// <param name="LoaderSignature">At most 24 ASCII characters; must equal the name in the type's LoadableClass line.</param>
/// <param name="LoaderAssembly">The assembly ML.NET loads in a fresh process to find the loader.</param>
/// <param name="Version">The layout written now. Bump it when the layout changes (readers must be at least this new).</param>
/// <param name="OldestReadableVersion">The oldest layout <see cref="IModelLoadable{TSelf}.Load"/> still reads.</param>
internal sealed partial record ModelFormat(
    string Signature, string LoaderSignature, Assembly LoaderAssembly, uint Version, uint OldestReadableVersion)
{
    public string Signature { get; } = CheckAscii(Signature, nameof(Signature), exactLength: 8);
    public string LoaderSignature { get; } = CheckAscii(LoaderSignature, nameof(LoaderSignature), maxLength: 24);
    public Assembly LoaderAssembly { get; } = LoaderAssembly ?? throw new ArgumentNullException(nameof(LoaderAssembly));
    public uint OldestReadableVersion { get; } = OldestReadableVersion <= Version ? OldestReadableVersion
        : throw new ArgumentOutOfRangeException(nameof(OldestReadableVersion),
            $"OldestReadableVersion ({OldestReadableVersion:X8}) must not be newer than Version ({Version:X8}).");

    private static string CheckAscii(string value, string name, int exactLength = -1, int maxLength = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(value, name);
        if ((exactLength >= 0 && value.Length != exactLength) || value.Length == 0 || value.Length > maxLength
            || value.Any(c => c is < ' ' or > '~'))
            throw new ArgumentException(
                $"{name} '{value}' must be printable ASCII of " +
                (exactLength >= 0 ? $"exactly {exactLength}" : $"1 to {maxLength}") + $" characters (ML.NET header field).",
                name);
        return value;
    }
}

/// <summary>
/// A transformer ML.NET can recreate from a model zip. Register it with one LoadableClass line in MlNetInternals.cs:
/// <c>[assembly: LoadableClass(typeof(X), typeof(MlNetModelLoader&lt;X&gt;), null, typeof(SignatureLoadModel), "name", X.LoaderSignature)]</c>.
/// </summary>
internal interface IModelLoadable<TSelf> where TSelf : class, ITransformer, IModelLoadable<TSelf>
{
    /// <summary>The format this type writes and reads; its LoaderSignature matches the LoadableClass line.</summary>
    static abstract ModelFormat Format { get; }

    /// <summary>Reads what the transformer's save wrote (header already checked against <see cref="Format"/>).</summary>
    static abstract TSelf Load(ModelReader reader);
}
