using System.Text.Json.Nodes;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>
/// Runs each notebook headless with dotnet-repl (the version in .config/dotnet-tools.json) against this run's pack.
/// The committed notebooks reference <c>../artifacts/packages</c> and version 0.1.0, as a person packs them; the test
/// runs a copy whose first code cell points at the run's pack folder and version instead, from the notebooks folder
/// (so the notebooks' relative data paths hold). Set MLNETTUNING_NOTEBOOK_OUTPUTS to a folder to keep the executed notebooks.
/// </summary>
[Collection(FrontDoorCollection.Name)]
public sealed class NotebookTests(PackedPackage package, ITestOutputHelper log)
{
    internal const string CommittedFeedLine = "#i \"nuget: ../artifacts/packages\"";
    internal const string CommittedPackageLine = "#r \"nuget: MLNetTuning, 0.1.0\"";
    private static readonly Lock ToolRestoreLock = new();
    private static bool s_toolRestored;

    [Theory]
    [InlineData("01-quick-start.ipynb", "Saved ")]
    [InlineData("02-training-curves.ipynb", "Stopped early: ")]
    [InlineData("03-bring-your-own-checkpoint.ipynb", "Exported ")]
    public void Notebook_RunsHeadless_WithoutAFailingCell(string notebook, string expectedOutput)
    {
        var pack = package.Get(log);
        RestoreTools();
        string folder = Directory.CreateTempSubdirectory("mlnt-notebook").FullName;
        try
        {
            string copy = Path.Combine(folder, notebook), output = Path.Combine(folder, "out.ipynb");
            File.WriteAllText(copy, PointAtPack(File.ReadAllText(Path.Combine(RepoPaths.Notebooks, notebook)), pack, notebook));

            var result = ChildProcess.Dotnet(log, RepoPaths.Notebooks, TimeSpan.FromMinutes(8),
                "tool", "run", "dotnet-repl", "--", "--run", copy, "--exit-after-run", "--output-path", output);

            // CI or a person may keep the executed notebooks (they are the committed outputs' source).
            if (Environment.GetEnvironmentVariable("MLNETTUNING_NOTEBOOK_OUTPUTS") is { Length: > 0 } keep && File.Exists(output))
            {
                Directory.CreateDirectory(keep);
                File.Copy(output, Path.Combine(keep, notebook), overwrite: true);
            }
            // dotnet-repl exits 2 when a cell failed; the failing cells' errors are in the output notebook.
            string failures = File.Exists(output) ? FailedCells(JsonNode.Parse(File.ReadAllText(output))!) : "(no output notebook was written)";
            Assert.True(result.ExitCode == 0, $"{notebook}: dotnet-repl exited {result.ExitCode}. Failing cells:\n{failures}\nOutput:\n{result.Tail(30)}");
            Assert.Equal("", failures);
            string text = AllOutputText(JsonNode.Parse(File.ReadAllText(output))!);
            Assert.True(text.Contains(expectedOutput, StringComparison.Ordinal), $"{notebook}: no cell printed '{expectedOutput}'.");
            log.WriteLine($"{notebook}: {result.Elapsed.TotalSeconds:F0} s.");
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The notebook's JSON with the package reference lines of its first code cell pointing at <paramref name="pack"/>.</summary>
    internal static string PointAtPack(string notebookJson, PackResult pack, string name)
    {
        var notebook = JsonNode.Parse(notebookJson)!;
        var firstCode = notebook["cells"]!.AsArray().First(c => (string?)c!["cell_type"] == "code")!;
        var lines = firstCode["source"]!.AsArray();
        int feed = IndexOf(lines, CommittedFeedLine), reference = IndexOf(lines, CommittedPackageLine);
        Assert.True(feed >= 0 && reference >= 0,
            $"{name}: the first code cell must hold the lines `{CommittedFeedLine}` and `{CommittedPackageLine}` (the test points them at its own pack).");
        lines[feed] = Replace((string)lines[feed]!, CommittedFeedLine, $"#i \"nuget: {pack.Folder}\"");
        lines[reference] = Replace((string)lines[reference]!, CommittedPackageLine, $"#r \"nuget: MLNetTuning, {pack.Version}\"");
        return notebook.ToJsonString();
    }

    private static int IndexOf(JsonArray lines, string line)
    {
        for (int i = 0; i < lines.Count; i++)
            if (((string?)lines[i])?.TrimEnd('\n') == line) return i;
        return -1;
    }

    private static string Replace(string line, string committed, string replacement) => line.Replace(committed, replacement, StringComparison.Ordinal);

    private static string FailedCells(JsonNode notebook)
    {
        var failures = new List<string>();
        var cells = notebook["cells"]!.AsArray();
        for (int i = 0; i < cells.Count; i++)
            foreach (var output in cells[i]!["outputs"]?.AsArray() ?? [])
                if ((string?)output!["output_type"] == "error")
                {
                    string source = string.Concat(cells[i]!["source"]!.AsArray().Select(l => (string?)l));
                    failures.Add($"cell {i}:\n{source}\n--> {output["ename"]}: {output["evalue"]}");
                }
        return string.Join("\n\n", failures);
    }

    private static string AllOutputText(JsonNode notebook) => string.Concat(
        from cell in notebook["cells"]!.AsArray()
        from output in cell!["outputs"]?.AsArray() ?? []
        let text = output!["text"] ?? output["data"]?["text/plain"] ?? output["data"]?["text/html"]
        where text is not null
        select text is JsonArray parts ? string.Concat(parts.Select(p => (string?)p)) : (string?)text);

    private void RestoreTools()
    {
        lock (ToolRestoreLock)
        {
            if (s_toolRestored) return;
            var result = ChildProcess.Dotnet(log, RepoPaths.Root, TimeSpan.FromMinutes(3), "tool", "restore");
            Assert.True(result.ExitCode == 0, $"dotnet tool restore failed (exit {result.ExitCode}):\n{result.Tail()}");
            s_toolRestored = true;
        }
    }
}
