namespace MLNetTuning.Tests.Hostile;

/// <summary>
/// Every input afl-fuzz found that broke a parser (Data/Hostile/findings/TARGET/*, from fuzz/run.sh), kept as a regression
/// test: each must now load or fail with <see cref="InvalidDataException"/>.
/// </summary>
public sealed class FuzzFindingTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-findings-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    public static TheoryData<string, string> Findings()
    {
        var data = new TheoryData<string, string>();
        string root = Path.Combine(Parsers.DataFolder, "findings");
        foreach (var folder in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
            foreach (var file in Directory.GetFiles(folder).Order(StringComparer.Ordinal))
                data.Add(Path.GetFileName(folder), Path.GetFileName(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Findings))]
    public void AFinding_NowLoadsOrFailsWithInvalidData(string target, string file)
    {
        byte[] input = File.ReadAllBytes(Path.Combine(Parsers.DataFolder, "findings", target, file));
        Assert.Null(Parsers.Violation(target, input, _scratch));
    }

    [Fact]
    public void ASafetensorsHeaderWithAnEscapedLoneSurrogate_IsInvalidData_NotInvalidOperation()
    {
        // Valid JSON, valid UTF-8, but "\ud800" is no .NET string: GetString threw InvalidOperationException.
        byte[] header = "{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"u8.ToArray();
        byte[] file = [.. BitConverter.GetBytes((long)header.Length), .. header];
        string path = Path.Combine(_scratch, "lone.safetensors");
        File.WriteAllBytes(path, file);
        var error = Assert.Throws<InvalidDataException>(() => Checkpoints.SafeTensors.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("not valid Unicode", error.Message);
    }

    [Fact]
    public void ASafetensorsHeaderThatIsNotUtf8_IsInvalidData_NamingTheFile()
    {
        byte[] header = [.. "{\"a"u8, 0xC3, 0x28, .. "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}"u8];
        string path = Path.Combine(_scratch, "latin1.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((long)header.Length), .. header]);
        var error = Assert.Throws<InvalidDataException>(() => Checkpoints.SafeTensors.Load(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("not valid UTF-8", error.Message);
    }
}
