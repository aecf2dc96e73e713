using System.CommandLine;
using MLNetTuning.Serve;

// mlnet-serve model.onnx: the server without TorchSharp, as the container image runs it. `mlnet-tune serve` is the same
// command, and opens model zips as well.
var root = (RootCommand)ServeCommand.Create(OnnxPredictor.Open, Console.Out, CancellationToken.None,
    new RootCommand("mlnet-serve: " + ServeCommand.Description + " Serves .onnx files written by mlnet-tune export --format onnx."));
try { return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }); }
catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or IOException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
