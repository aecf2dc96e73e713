using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace MLNetTuning.Tests.Cli;

/// <summary>`export --format onnx [--quantize int8]` on the CLI's trained tiny model.</summary>
[Collection(TorchRandomCollection.Name)]
public sealed class CliOnnxExportTests(CliTrainedModelFixture trained, ITestOutputHelper output) : IClassFixture<CliTrainedModelFixture>
{
    [Fact]
    public void ExportOnnx_Float32AndInt8_WriteGraphsThatOnnxRuntimeLoads_Int8Smaller()
    {
        string fp32 = Path.Combine(trained.Folder, "onnx-fp32", "model.onnx"), int8 = Path.Combine(trained.Folder, "onnx-int8", "model.onnx");
        var plain = CliRunner.Run(["export", trained.ModelPath, fp32, "--format", "onnx"]);
        var quantized = CliRunner.Run(["export", trained.ModelPath, int8, "--format", "onnx", "--quantize", "int8"]);
        output.WriteLine(plain.ToString());
        output.WriteLine(quantized.ToString());
        Assert.Equal(0, plain.ExitCode);
        Assert.Equal(0, quantized.ExitCode);
        Assert.Contains("float32", plain.Output);
        Assert.Contains("int8", quantized.Output);
        foreach (var path in new[] { fp32, int8 })
        {
            using var session = new InferenceSession(path);
            Assert.Equal("logits", Assert.Single(session.OutputMetadata).Key);
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "vocab.txt")));
        }
        // The encoder's products are 4× smaller; embeddings, LayerNorms and the head stay float32.
        Assert.True(new FileInfo(int8).Length < 0.8 * new FileInfo(fp32).Length, $"int8 {new FileInfo(int8).Length} B against float32 {new FileInfo(fp32).Length} B");
    }

    [Fact]
    public void QuantizeWithoutOnnxFormat_IsAUsageErrorNamingTheOption()
    {
        var run = CliRunner.Run(["export", trained.ModelPath, Path.Combine(trained.Folder, "hf-int8"), "--quantize", "int8"]);
        output.WriteLine(run.ToString());
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("--quantize int8 applies to --format onnx", run.Error);
        Assert.False(Directory.Exists(Path.Combine(trained.Folder, "hf-int8")));
    }
}
