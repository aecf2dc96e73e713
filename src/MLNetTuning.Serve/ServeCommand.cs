using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MLNetTuning.Serve;

/// <summary>
/// The <c>serve</c> command, shared by <c>mlnet-tune serve</c> (which opens a model zip with TorchSharp or a .onnx file)
/// and the stand-alone <c>mlnet-serve</c> (ONNX only, for the container image).
/// </summary>
internal static class ServeCommand
{
    public const string Description = "Serve a model over HTTP: POST /predict, GET /healthz, GET /info, the OpenAPI document at /openapi/v1.json " +
        "and a page to try it at /. Concurrent requests are batched; Ctrl+C or SIGTERM stops after the requests in flight.";

    /// <param name="open">Opens the model file named on the command line.</param>
    /// <param name="log">Where the start-up and shutdown lines go.</param>
    /// <param name="stop">Stops the server (Ctrl+C as the host sees it); SIGTERM also stops it.</param>
    /// <param name="into">The command to fill (a root command for mlnet-serve); null for a new <c>serve</c> command.</param>
    public static Command Create(Func<string, IPredictor> open, TextWriter log, CancellationToken stop, Command? into = null)
    {
        var defaults = new ServeSettings();
        var model = new Argument<string>("model") { Description = "The model: a model zip written by train (mlnet-tune serve only), or an .onnx file written by export --format onnx" };
        var host = new Option<string>("--host") { Description = "The address to listen on: 127.0.0.1 (this machine) or 0.0.0.0 (every interface, as in a container)", DefaultValueFactory = _ => defaults.Host };
        var port = new Option<int>("--port", "-p") { Description = "The port (0: a free one)", DefaultValueFactory = _ => defaults.Port };
        var maxBatch = new Option<int>("--max-batch") { Description = "The most inputs scored in one call of the model; concurrent requests are joined up to it (1: no dynamic batching)", DefaultValueFactory = _ => defaults.MaxBatch };
        var maxWait = new Option<int>("--max-wait-ms") { Description = "How long a request waits for others to join its batch, in milliseconds", DefaultValueFactory = _ => defaults.MaxWaitMs };
        var queue = new Option<int>("--queue-size") { Description = "Requests that may wait for the model; beyond it the server answers 503 with Retry-After", DefaultValueFactory = _ => defaults.QueueSize };
        var maxBytes = new Option<long>("--max-request-bytes") { Description = "The largest request body in bytes (413 above it)", DefaultValueFactory = _ => defaults.MaxRequestBytes };
        var maxInputs = new Option<int>("--max-inputs") { Description = "The most texts, pairs or questions in one request (413 above it)", DefaultValueFactory = _ => defaults.MaxInputs };
        var maxText = new Option<int>("--max-text-length") { Description = "The longest text, question or context in characters (400 above it)", DefaultValueFactory = _ => defaults.MaxTextLength };
        var command = into ?? new Command("serve", Description);
        command.Arguments.Add(model);
        foreach (var option in new Option[] { host, port, maxBatch, maxWait, queue, maxBytes, maxInputs, maxText }) command.Options.Add(option);
        command.SetAction(result =>
        {
            var settings = new ServeSettings
            {
                Host = result.GetValue(host)!, Port = result.GetValue(port), MaxBatch = result.GetValue(maxBatch), MaxWaitMs = result.GetValue(maxWait),
                QueueSize = result.GetValue(queue), MaxRequestBytes = result.GetValue(maxBytes), MaxInputs = result.GetValue(maxInputs), MaxTextLength = result.GetValue(maxText),
            };
            settings.Validate();
            using var predictor = open(result.GetValue(model)!);
            Run(predictor, settings, log, stop);
            return 0;
        });
        return command;
    }

    /// <summary>Serves until <paramref name="stop"/> or SIGTERM, then drains the queue and returns.</summary>
    public static void Run(IPredictor predictor, ServeSettings settings, TextWriter log, CancellationToken stop)
    {
        using var app = ServeApp.Create(predictor, settings);
        app.Start();
        string address = ServeApp.Address(app);
        var card = predictor.Card;
        log.WriteLine($"Serving a {card.Task} model ({card.Precision}, {card.Model}) on {address}");
        log.WriteLine($"  try it: {address}/   API: POST {address}/predict {card.ExampleRequest}   OpenAPI: {address}/openapi/v1.json");
        log.WriteLine($"  batches of up to {settings.MaxBatch} inputs, waiting at most {settings.MaxWaitMs} ms; Ctrl+C stops after the requests in flight.");
        log.Flush();
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        using (stop.Register(lifetime.StopApplication))
            app.WaitForShutdown();
        log.WriteLine("Stopped: every request in flight was answered.");
    }
}
