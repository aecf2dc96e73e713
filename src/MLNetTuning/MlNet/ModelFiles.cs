using Microsoft.ML;

namespace MLNetTuning.MlNet;

/// <summary>Saving ML.NET model zips without ever leaving a half-written file.</summary>
internal static class ModelFiles
{
    /// <summary>
    /// Like <c>ml.Model.Save(model, inputSchema, path)</c>, but writes a temp file beside <paramref name="path"/> and
    /// renames it over the target only when saving succeeded. If saving throws, an existing file at
    /// <paramref name="path"/> is untouched and the temp file is removed.
    /// </summary>
    public static void SafeModelSave(MLContext ml, ITransformer model, DataViewSchema? inputSchema, string path)
    {
        ArgumentNullException.ThrowIfNull(ml);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)!;
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Cannot save the model to '{fullPath}': folder '{directory}' does not exist.");
        IO.AtomicFile.Write(fullPath, temp => ml.Model.Save(model, inputSchema, temp));
    }
}
