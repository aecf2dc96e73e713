using System.Text.Json.Nodes;

namespace MLNetTuning.FrontDoor.Tests;

/// <summary>
/// Runs each committed notebook unmodified with dotnet-repl (the version in .config/dotnet-tools.json), from the notebooks
/// folder, exactly as notebooks/README.md documents: the run's pack is in artifacts/packages at the project's version, and
/// notebooks/nuget.config makes that folder a package source. Set MLNETTUNING_NOTEBOOK_OUTPUTS to a folder to keep the
/// executed notebooks.
/// </summary>
[Collection(FrontDoorCollection.Name)]
public sealed class NotebookTests(PackedPackage package, ITestOutputHelper log)
{
    private static readonly Lock ToolRestoreLock = new();
    private static bool s_toolRestored;

    [Theory]
    [InlineData("01-quick-start.ipynb", "Saved ")]
    [InlineData("02-training-curves.ipynb", "Stopped early: ")]
    [InlineData("03-bring-your-own-checkpoint.ipynb", "Exported ")]
    [InlineData("04-token-classification.ipynb", "POS test on 500 sentences: token accuracy ")]
    [InlineData("05-question-answering.ipynb", "Saved ")]
    public void Notebook_RunsHeadless_WithoutAFailingCell(string notebook, string expectedOutput)
    {
        var pack = package.Get(log);
        string committed = Path.Combine(RepoPaths.Notebooks, notebook);
        CheckReferencesPack(File.ReadAllText(committed), pack, notebook);
        RestoreTools();
        string folder = Directory.CreateTempSubdirectory("mlnt-notebook").FullName;
        try
        {
            string output = Path.Combine(folder, "out.ipynb");
            // The README's command, with the committed file itself; only the output goes elsewhere.
            var result = ChildProcess.Dotnet(log, RepoPaths.Notebooks, TimeSpan.FromMinutes(15),
                "tool", "run", "dotnet-repl", "--", "--run", notebook, "--exit-after-run", "--output-path", output);

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
            // The kernel ran this run's pack, not a copy of the same version left in NuGet's cache by an earlier one.
            pack.CheckRestoredCopy();
            log.WriteLine($"{notebook}: {result.Elapsed.TotalSeconds:F0} s.");
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// The committed notebook's first code cell references MLNetTuning at the version the documented pack makes, and
    /// takes its feed from nuget.config only: the kernel rejects a relative <c>#i "nuget: ../..."</c> ("Invalid URI").
    /// </summary>
    internal static void CheckReferencesPack(string notebookJson, PackResult pack, string name)
    {
        var notebook = JsonNode.Parse(notebookJson)!;
        var firstCode = notebook["cells"]!.AsArray().First(c => (string?)c!["cell_type"] == "code")!;
        var lines = firstCode["source"]!.AsArray().Select(l => ((string?)l ?? "").TrimEnd('\n')).ToList();
        string reference = $"#r \"nuget: MLNetTuning, {pack.Version}\"";
        Assert.True(lines.Contains(reference),
            $"{name}: the first code cell must hold `{reference}`, the version `dotnet pack src/MLNetTuning` makes (the project's <Version>). It holds:\n{string.Join('\n', lines)}");
        Assert.False(lines.Any(l => l.StartsWith("#i ", StringComparison.Ordinal)),
            $"{name}: the first code cell must not add a package source with #i; notebooks/nuget.config adds ../artifacts/packages (a relative #i path fails with 'Invalid URI').");
    }

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
