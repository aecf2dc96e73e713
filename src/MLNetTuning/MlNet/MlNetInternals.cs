// The ONLY file of this library that touches ML.NET internals (with MlNetRegistrations.cs, its LoadableClass lines).
// Everything else goes through the thin types below. MLNetTuning.Onnx compiles this file too, with its own registrations.
//
// Why: a transformer that saves its weights into an ML.NET model zip and loads back in a fresh process needs
// ModelSaveContext/ModelLoadContext members, VersionInfo, LoadableClassAttribute and SignatureLoadModel, which are
// all internal in ML.NET 5.0.1 (dotnet/machinelearning#4911). We compile against publicized copies of
// Microsoft.ML.Core/Microsoft.ML.Data (Publicize.targets) and, at run time, ask the CLR to skip access checks into
// those two assemblies. Without the attributes the internal calls below would fail with MethodAccessException and
// ML.NET would silently ignore the LoadableClass registrations ("Couldn't load model").
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetTuning.MlNet;

[assembly: IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: IgnoresAccessChecksTo("Microsoft.ML.Data")]

namespace System.Runtime.CompilerServices
{
    /// <summary>Honoured by CoreCLR: lets this assembly use internals of the named assembly at run time.</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute(string assemblyName) : Attribute
    {
        public string AssemblyName { get; } = assemblyName;
    }
}

namespace MLNetTuning.MlNet
{
    /// <summary>Writes one transformer's part of a model zip: header, main stream, string table, side streams.</summary>
    internal sealed class ModelWriter
    {
        private readonly ModelSaveContext _context;

        /// <summary>Checks the context is at the model start and stamps the versioned header.</summary>
        internal ModelWriter(ModelSaveContext context, ModelFormat format)
        {
            ArgumentNullException.ThrowIfNull(context);
            context.CheckAtModel();
            context.SetVersionInfo(format.ToVersionInfo());
            _context = context;
        }

        /// <summary>The main model stream, for small fixed-size fields (counts, flags, scalars).</summary>
        public BinaryWriter Writer => _context.Writer;

        /// <summary>Writes a string (or null) through the zip's shared string table.</summary>
        public void WriteString(string? value) => _context.SaveStringOrNull(value);

        /// <summary>
        /// Writes a separate zip entry beside the model stream. Use it for large blobs (weights): written once,
        /// stored once, and read back as a stream.
        /// </summary>
        public void WriteBinaryStream(string entryName, Action<BinaryWriter> write) =>
            _context.SaveBinaryStream(entryName, write);
    }

    /// <summary>Reads what <see cref="ModelWriter"/> wrote, after the header has been checked.</summary>
    internal sealed class ModelReader
    {
        private readonly ModelLoadContext _context;

        internal ModelReader(ModelLoadContext context, ModelFormat format)
        {
            ArgumentNullException.ThrowIfNull(context);
            // Throws ML.NET's own "model signature / version" errors when the zip holds another model or a
            // version this code cannot read.
            context.CheckAtModel(format.ToVersionInfo());
            _context = context;
            Format = format;
            VersionWritten = context.Header.ModelVerWritten;
        }

        public ModelFormat Format { get; }

        /// <summary>The format version the zip was written with (lets a loader read older layouts).</summary>
        public uint VersionWritten { get; }

        /// <summary>The main model stream.</summary>
        public BinaryReader Reader => _context.Reader;

        /// <summary>Reads a string written by <see cref="ModelWriter.WriteString"/>.</summary>
        public string? ReadString() => _context.LoadStringOrNull();

        /// <summary>Reads a side entry written by <see cref="ModelWriter.WriteBinaryStream"/>; a missing entry is an error.</summary>
        public void ReadBinaryStream(string entryName, Action<BinaryReader> read)
        {
            // ML.NET unpacks the whole entry (to a temp file or memory) before `read` sees a byte, so its sizes are
            // checked here, from the zip's central directory, while nothing has been unpacked yet.
            if (ZipEntrySizes(entryName) is var (unpacked, compressed))
                IO.FileLimits.CheckZipEntry(entryName, unpacked, compressed);
            if (!_context.TryLoadBinaryStream(entryName, read))
                throw new InvalidDataException(
                    $"The model zip has no entry '{entryName}' in '{_context.Directory}' for the {Format.LoaderSignature} " +
                    "transformer. The file is damaged or was not written by this library; save the model again.");
        }

        // ModelLoadContext.Repository and RepositoryReader._entries are internal and private in ML.NET 5.0.1 and cannot be
        // publicized for compiling (RepositoryReader's type itself stays internal), so they are read by reflection. A test
        // (a deflate bomb refused before it is unpacked) fails if a later ML.NET moves them.
        private static readonly System.Reflection.FieldInfo? RepositoryField =
            typeof(ModelLoadContext).GetField("Repository", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic);

        /// <summary>The declared unpacked and compressed sizes of a side entry, or null when the zip cannot be inspected.</summary>
        internal (long Unpacked, long Compressed)? ZipEntrySizes(string entryName)
        {
            object? repository = RepositoryField?.GetValue(_context);
            var entriesField = repository?.GetType().GetField("_entries", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic);
            if (entriesField?.GetValue(repository) is not IDictionary<string, System.IO.Compression.ZipArchiveEntry> entries) return null;
            // RepositoryReader keys entries by their path with '/' separators, below the transformer's directory.
            string path = (string.IsNullOrEmpty(_context.Directory) ? entryName : _context.Directory + "/" + entryName).Replace('\\', '/');
            return entries.TryGetValue(path, out var entry) ? (entry.Length, entry.CompressedLength) : null;
        }
    }

    /// <summary>
    /// The loader ML.NET calls (by reflection, through the LoadableClass registration above) to recreate a
    /// <typeparamref name="T"/> from a model zip.
    /// </summary>
    internal static class MlNetModelLoader<T> where T : class, ITransformer, IModelLoadable<T>
    {
        // Found by ComponentCatalog: a static "Create" returning T with (IHostEnvironment, ModelLoadContext).
        private static T Create(IHostEnvironment env, ModelLoadContext context)
        {
            try { return T.Load(new ModelReader(context, T.Format)); }
            catch (Exception e) when (e is EndOfStreamException or FormatException || (e is IOException && e.TargetSite?.DeclaringType == typeof(BinaryReader)))
            {
                // BinaryReader's own errors on a cut or garbled stream (a read past its end, a bad string length: a plain
                // IOException from ReadString, found by afl-fuzz) mean a damaged zip: report them as the file error every
                // other damaged field is.
                throw new InvalidDataException(
                    $"The model zip's {T.Format.LoaderSignature} part is truncated or damaged ({e.Message}); save the model again from the training run.", e);
            }
        }
    }

    /// <summary>The environment behind an ML.NET catalog (internal in ML.NET), for catalog extension methods.</summary>
    internal static class MlNetCatalogs
    {
        public static IHostEnvironment Environment(object catalog) => CatalogUtils.GetEnvironment((IInternalCatalog)catalog);
    }

    /// <summary>Schema conversions that ML.NET keeps internal.</summary>
    internal static class MlNetSchemaShapes
    {
        /// <summary>ML.NET's own DataViewSchema -> SchemaShape conversion (annotations included).</summary>
        public static SchemaShape FromSchema(DataViewSchema schema) => SchemaShape.Create(schema);
    }

    internal sealed partial record ModelFormat
    {
        internal VersionInfo ToVersionInfo() => new(
            Signature, verWrittenCur: Version, verReadableCur: Version, verWeCanReadBack: OldestReadableVersion,
            loaderAssemblyName: LoaderAssembly.FullName, loaderSignature: LoaderSignature);
    }
}
