using Mono.Cecil;

namespace MLNetTuning.Publicizer;

/// <summary>
/// Writes copies of assemblies in which chosen internal types and members are public, for compiling only.
/// </summary>
/// <remarks>
/// Usage: <c>MLNetTuning.Publicizer &lt;outputDir&gt; [--search &lt;dir&gt;]... [--member &lt;entry&gt;]... &lt;assembly.dll&gt;...</c>
/// <list type="bullet">
/// <item><c>--search</c>: folders holding the inputs' own references (Cecil resolves enum types of parameter defaults when writing).</item>
/// <item><c>--member Namespace.Type</c> makes the type and all its members public; <c>--member Namespace.Type::Name</c>
/// makes the type and its members called Name public (all overloads; <c>.ctor</c> for constructors; a property or
/// event by its name). Nested types are written <c>Outer/Inner</c>. An entry found in no input is an error, so an
/// upgrade that renames an internal fails the build here instead of at run time.</item>
/// <item>Without <c>--member</c>, every type and member under the <c>Microsoft.ML</c> namespaces is made public.</item>
/// </list>
/// Why: ML.NET keeps what a third-party transformer needs to save itself into a model zip internal
/// (dotnet/machinelearning#4911). An explicit list keeps every other internal a compile error.
/// </remarks>
internal static class Program
{
    private const string Usage =
        "Usage: MLNetTuning.Publicizer <outputDir> [--search <dir>]... [--member <Type[::Member]>]... <assembly.dll>...";

    private static int Main(string[] args)
    {
        if (args.Length < 2)
            return Fail(Usage, exitCode: 2);
        string outputDirectory = args[0];
        var inputs = new List<string>();
        var entries = new List<string>();
        using var resolver = new DefaultAssemblyResolver();
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] is not ("--search" or "--member")) { inputs.Add(args[i]); continue; }
            if (i + 1 == args.Length)
                return Fail($"{args[i]} needs a value. {Usage}", exitCode: 2);
            if (args[i] == "--search") resolver.AddSearchDirectory(args[++i]);
            else entries.Add(args[++i]);
        }
        if (inputs.Count == 0)
            return Fail($"no input assembly given. {Usage}", exitCode: 2);
        foreach (string input in inputs)
        {
            if (!File.Exists(input))
                return Fail($"input assembly '{input}' does not exist.");
            resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(input))!);
        }

        Directory.CreateDirectory(outputDirectory);
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (string input in inputs)
        {
            string target = Path.Combine(outputDirectory, Path.GetFileName(input));
            int changed = Publicize(input, target, resolver, entries, found);
            Console.WriteLine($"MLNetTuning.Publicizer: {Path.GetFileName(input)}: {changed} made public -> {target}");
        }
        var missing = entries.Where(e => !found.Contains(e)).ToList();
        return missing.Count == 0 ? 0
            : Fail($"not found in {string.Join(", ", inputs.Select(Path.GetFileName))}: {string.Join(", ", missing)}. " +
                   "The referenced ML.NET version no longer has these internals; update the list in Publicize.targets.");
    }

    private static int Fail(string message, int exitCode = 1)
    {
        Console.Error.WriteLine($"MLNetTuning.Publicizer: error: {message}");
        return exitCode;
    }

    private static int Publicize(string input, string target, IAssemblyResolver resolver,
        IReadOnlyList<string> entries, HashSet<string> found)
    {
        int changed = 0;
        // In memory, so the input file is not held open and the output may be written anywhere.
        using (var assembly = AssemblyDefinition.ReadAssembly(input, new ReaderParameters { InMemory = true, AssemblyResolver = resolver }))
        {
            ModuleDefinition module = assembly.MainModule;
            if (entries.Count == 0)
            {
                foreach (TypeDefinition type in module.Types.Where(IsMlNetType))
                    changed += PublicizeTypeAndMembers(type, recurse: true);
            }
            foreach (string entry in entries)
            {
                string[] parts = entry.Split("::", 2);
                TypeDefinition? type = module.GetType(parts[0]);
                if (type is null) continue;
                found.Add(entry);
                if (parts.Length == 1)
                    changed += PublicizeTypeAndMembers(type, recurse: false);
                else
                    changed += PublicizeDeclaringChain(type) + PublicizeMembersNamed(type, parts[1], entry);
            }
            // Parallel builds of several configurations may publicize at once: each writes its own temp file and
            // renames it over the target, so a compiler never sees a half-written reference.
            string temp = $"{target}.{Guid.NewGuid():N}.tmp";
            try
            {
                assembly.Write(temp);
                File.Move(temp, target, overwrite: true);
            }
            finally
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
        }
        return changed;
    }

    // Polyfills that ML.NET compiles in for netstandard2.0 (System.*, compiler attributes) must stay internal,
    // or they would clash with the real BCL types in the compilation that references the copy.
    private static bool IsMlNetType(TypeDefinition type) =>
        type.Namespace == "Microsoft.ML" || type.Namespace.StartsWith("Microsoft.ML.", StringComparison.Ordinal);

    private static int PublicizeTypeAndMembers(TypeDefinition type, bool recurse)
    {
        int changed = PublicizeDeclaringChain(type);
        foreach (MethodDefinition method in type.Methods)
            changed += PublicizeMethod(method);
        var eventNames = type.Events.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        foreach (FieldDefinition field in type.Fields)
        {
            // A field-like event's backing field shares the event's name; making it public makes the name ambiguous.
            if (!eventNames.Contains(field.Name))
                changed += PublicizeField(field);
        }
        if (recurse)
        {
            foreach (TypeDefinition nested in type.NestedTypes)
                changed += PublicizeTypeAndMembers(nested, recurse);
        }
        return changed;
    }

    private static int PublicizeMembersNamed(TypeDefinition type, string name, string entry)
    {
        var methods = type.Methods.Where(m => m.Name == name)
            .Concat(type.Properties.Where(p => p.Name == name).SelectMany(p => new[] { p.GetMethod, p.SetMethod }))
            .Concat(type.Events.Where(e => e.Name == name).SelectMany(e => new[] { e.AddMethod, e.RemoveMethod }))
            .OfType<MethodDefinition>().ToList();
        var fields = type.Fields.Where(f => f.Name == name && !type.Events.Any(e => e.Name == name)).ToList();
        if (methods.Count == 0 && fields.Count == 0)
            throw new InvalidOperationException($"'{entry}': type {type.FullName} has no member named '{name}'.");
        return methods.Sum(PublicizeMethod) + fields.Sum(PublicizeField);
    }

    private static int PublicizeDeclaringChain(TypeDefinition type)
    {
        int changed = 0;
        for (TypeDefinition? t = type; t is not null; t = t.DeclaringType)
        {
            if (t.IsNested ? t.IsNestedPublic : t.IsPublic) continue;
            if (t.IsNested) t.IsNestedPublic = true; else t.IsPublic = true;
            changed++;
        }
        return changed;
    }

    // Explicit interface implementations keep their private accessibility: C# cannot name them anyway.
    private static int PublicizeMethod(MethodDefinition method)
    {
        if (method.IsPublic || method.HasOverrides) return 0;
        method.IsPublic = true;
        return 1;
    }

    private static int PublicizeField(FieldDefinition field)
    {
        if (field.IsPublic) return 0;
        field.IsPublic = true;
        return 1;
    }
}
