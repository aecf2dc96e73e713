using System.Diagnostics;
using MLNetTuning.Native;

namespace MLNetTuning.Tests;

/// <summary>The native-library cache trusts a patched copy only after checking it: content hash, owner, no links.</summary>
public sealed class NativeCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mlnt-native-cache").FullName;
    private readonly string _cache;
    private readonly byte[] _expected;

    public NativeCacheTests()
    {
        _cache = Path.Combine(_dir, "cache");
        _expected = File.ReadAllBytes(NativeLoaderTests.RealLibrary());
        Assert.True(TorchNativeLoader.MarkVersionWeak(_expected, "GLIBCXX_3.4.32"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Patch() => TorchNativeLoader.PatchedCopy(NativeLoaderTests.RealLibrary(), _cache);

    [Fact]
    public void ATornCopy_IsRepaired_InsteadOfFailingEveryLaterStart()
    {
        string path = Patch();
        // What a crash or a full disk leaves when a copy is written in place: the first part only.
        File.WriteAllBytes(path, _expected[..(_expected.Length / 3)]);

        Assert.Equal(path, Patch());

        Assert.Equal(_expected, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Path.GetDirectoryName(path)!));
    }

    [Fact]
    public void AChangedCopyOfTheSameLength_IsReplaced()
    {
        string path = Patch();
        byte[] changed = (byte[])_expected.Clone();
        changed[changed.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, changed);

        Patch();

        Assert.Equal(_expected, File.ReadAllBytes(path));
    }

    [Fact]
    public void ASymbolicLinkInPlaceOfTheCopy_IsNeverFollowed_AndIsReplacedByTheRealFile()
    {
        string path = Patch();
        string elsewhere = Path.Combine(_dir, "planted.so");
        File.WriteAllBytes(elsewhere, _expected);   // even the right bytes: a link is not this user's file
        File.Delete(path);
        File.CreateSymbolicLink(path, elsewhere);

        Patch();

        var status = UnixFiles.LinkStatus(path)!.Value;
        Assert.False(status.IsSymbolicLink);
        Assert.True(status.IsRegularFile);
        Assert.Equal(_expected, File.ReadAllBytes(path));
        Assert.True(File.Exists(elsewhere));   // the link's target is left alone
    }

    [Fact]
    public void ACacheFolderThatIsASymbolicLink_IsRefused_NamingItAndTheWayOut()
    {
        string hashFolder = Path.GetDirectoryName(Patch())!;
        string elsewhere = Path.Combine(_dir, "someone-elses");
        Directory.Move(hashFolder, elsewhere);
        Directory.CreateSymbolicLink(hashFolder, elsewhere);

        var error = Assert.Throws<IOException>(Patch);

        Assert.Contains(hashFolder, error.Message);
        Assert.Contains("symbolic link", error.Message);
        Assert.Contains("MLNETTUNING_CACHE", error.Message);
    }

    [Fact]
    public void TheCacheFolders_AreWritableByTheUserOnly_EvenWhenTheyWereNot()
    {
        string hashFolder = Path.GetDirectoryName(Patch())!;
        File.SetUnixFileMode(hashFolder, (UnixFileMode)0b111_111_111);

        Patch();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(hashFolder));
        Assert.False(UnixFiles.LinkStatus(Path.GetDirectoryName(hashFolder)!)!.Value.WritableByOthers);
    }

    [Fact]
    public void ACopyOwnedByAnotherUser_IsNotLoaded_ButReplaced()
    {
        string path = Patch();
        if (UnixFiles.EffectiveUserId != 0)
        {
            // Only root can give a file away; elsewhere the ownership check is covered by the link and hash tests.
            Assert.Equal(UnixFiles.EffectiveUserId, UnixFiles.LinkStatus(path)!.Value.OwnerId);
            return;
        }
        using (var chown = Process.Start("chown", ["65534", path])) chown.WaitForExit();
        Assert.Equal(65534u, UnixFiles.LinkStatus(path)!.Value.OwnerId);

        Patch();

        Assert.Equal(0u, UnixFiles.LinkStatus(path)!.Value.OwnerId);
        Assert.Equal(_expected, File.ReadAllBytes(path));
    }
}
