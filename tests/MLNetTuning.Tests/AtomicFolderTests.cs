using MLNetTuning.IO;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>The folder swap behind every Hugging Face export: the target path names the old folder or the new one at every instant.</summary>
public sealed class AtomicFolderTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _parent = Directory.CreateTempSubdirectory("mlnt-atomic-").FullName;

    public void Dispose() => Directory.Delete(_parent, recursive: true);

    private string Target => Path.Combine(_parent, "model");

    private static void WriteMarker(string folder, string text) => File.WriteAllText(Path.Combine(folder, "config.json"), text);

    [Fact]
    public void Write_OverAnExistingFolder_ManyTimes_IsNeverSeenMissing()
    {
        AtomicFolder.Write(Target, staging => WriteMarker(staging, "0"));
        string marker = Path.Combine(Target, "config.json");
        int stop = 0;
        long polls = 0, missing = 0;
        var watcher = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0)
            {
                polls++;
                if (!Directory.Exists(Target) || !File.Exists(marker)) missing++;
            }
        });
        watcher.Start();
        const int swaps = 500;
        try
        {
            for (int i = 1; i <= swaps; i++) AtomicFolder.Write(Target, staging => WriteMarker(staging, $"{i}"));
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            watcher.Join();
        }
        output.WriteLine($"{swaps} swaps, {polls:N0} polls, {missing} saw no folder");

        Assert.Equal(0, missing);
        Assert.Equal($"{swaps}", File.ReadAllText(marker));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
    }

    [Fact]
    public void OnLinux_TheSwapIsAnAtomicExchange()
    {
        if (!OperatingSystem.IsLinux()) return;   // renameat2 is Linux's; xunit 2 has no dynamic skip
        string a = Directory.CreateDirectory(Path.Combine(_parent, "a")).FullName;
        string b = Directory.CreateDirectory(Path.Combine(_parent, "b")).FullName;
        WriteMarker(a, "a");
        WriteMarker(b, "b");

        // The temp folder is on the same file system as the test's target, which must support RENAME_EXCHANGE (ext4, xfs, btrfs, tmpfs do).
        Assert.True(AtomicFolder.TryExchange(a, b));

        Assert.Equal("b", File.ReadAllText(Path.Combine(a, "config.json")));
        Assert.Equal("a", File.ReadAllText(Path.Combine(b, "config.json")));
    }

    [Fact]
    public void Write_ToANewFolder_CreatesIt_AndAFailureCreatesNothing()
    {
        Assert.Throws<InvalidOperationException>(() => AtomicFolder.Write(Target, staging =>
        {
            WriteMarker(staging, "half");
            throw new InvalidOperationException("writing failed");
        }));
        Assert.Empty(Directory.GetFileSystemEntries(_parent));

        AtomicFolder.Write(Target, staging => WriteMarker(staging, "new"));

        Assert.Equal("new", File.ReadAllText(Path.Combine(Target, "config.json")));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
    }

    [Fact]
    public void Write_FailingOverAnExistingFolder_LeavesItAsItWas()
    {
        AtomicFolder.Write(Target, staging => WriteMarker(staging, "old"));

        Assert.Throws<InvalidOperationException>(() => AtomicFolder.Write(Target, staging =>
        {
            WriteMarker(staging, "half");
            throw new InvalidOperationException("writing failed");
        }));

        Assert.Equal("old", File.ReadAllText(Path.Combine(Target, "config.json")));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
    }

    [Fact]
    public void Write_OntoAFile_IsRefused_AndNamesIt()
    {
        File.WriteAllText(Target, "a file");
        var e = Assert.Throws<IOException>(() => AtomicFolder.Write(Target, staging => WriteMarker(staging, "new")));
        Assert.Contains(Target, e.Message);
        Assert.Equal("a file", File.ReadAllText(Target));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
    }

    [Fact]
    public void TwoRenameFallback_ReplacesTheTarget_AndRemovesTheRetiredFolder()
    {
        string staging = Directory.CreateDirectory(Path.Combine(_parent, ".staging")).FullName;
        WriteMarker(staging, "new");
        Directory.CreateDirectory(Target);
        File.WriteAllText(Path.Combine(Target, "old.txt"), "old");

        AtomicFolder.SwapWithTwoRenames(staging, Target);

        Assert.Equal([Path.Combine(Target, "config.json")], Directory.GetFiles(Target));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
    }

    [Fact]
    public void TwoRenameFallback_WhenTheMoveFails_PutsTheOldFolderBack()
    {
        Directory.CreateDirectory(Target);
        File.WriteAllText(Path.Combine(Target, "old.txt"), "old");

        Assert.ThrowsAny<IOException>(() => AtomicFolder.SwapWithTwoRenames(Path.Combine(_parent, "no-such-staging"), Target));

        Assert.Equal("old", File.ReadAllText(Path.Combine(Target, "old.txt")));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
    }

    [Fact]
    public void SwapIn_WithAMissingStagingFolder_FailsAndKeepsTheTarget()
    {
        Directory.CreateDirectory(Target);
        File.WriteAllText(Path.Combine(Target, "old.txt"), "old");

        Assert.ThrowsAny<IOException>(() => AtomicFolder.SwapIn(Path.Combine(_parent, "no-such-staging"), Target));

        Assert.Equal("old", File.ReadAllText(Path.Combine(Target, "old.txt")));
        Assert.Equal([Target], Directory.GetFileSystemEntries(_parent));
    }
}
