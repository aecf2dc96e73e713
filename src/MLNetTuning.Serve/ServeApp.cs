using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MLNetTuning.Serve;

/// <summary>
/// The server: <c>POST /predict</c> through the <see cref="DynamicBatcher"/>, <c>GET /healthz</c>, <c>GET /info</c>, the
/// OpenAPI document at <c>/openapi/v1.json</c> and the try-it page at <c>/</c>. Kestrel alone, no reverse proxy needed.
/// </summary>
internal static class ServeApp
{
    /// <summary>Builds the app; the caller starts it and, at the end, stops it (which drains the queue) and disposes it.</summary>
    public static WebApplication Create(IPredictor predictor, ServeSettings settings, LogLevel logLevel = LogLevel.Warning)
    {
        settings.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.SetMinimumLevel(logLevel);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Parse(settings.Host), settings.Port);
            kestrel.Limits.MaxRequestBodySize = settings.MaxRequestBytes;
            kestrel.AddServerHeader = false;
        });
        // Time for in-flight requests to finish when the server stops (Ctrl+C, SIGTERM from a container runtime).
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        builder.Services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "mlnet-tune serve";
            document.Info.Description = $"A {predictor.Card.Task} model ({predictor.Card.Model}). POST /predict with {predictor.Card.ExampleRequest}";
            return Task.CompletedTask;
        }));
        var batcher = new DynamicBatcher(predictor, settings);
        builder.Services.AddSingleton(batcher);
        builder.Services.AddHostedService(_ => new Drain(batcher));

        var app = builder.Build();
        app.MapOpenApi();
        app.MapGet("/", () => Results.Content(Page.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
        app.MapGet("/healthz", () => Results.Json(new Health("ok", batcher.Queued, batcher.Batches, batcher.Predictions)))
            .WithSummary("Liveness, with the queue length and the batches and predictions so far.");
        app.MapGet("/info", () => Results.Json(new Info(predictor.Card.Task, predictor.Card.Labels, predictor.Card.Model, predictor.Card.Precision,
                predictor.Card.InputProperty, settings.MaxBatch, settings.MaxWaitMs, settings.MaxInputs, settings.MaxTextLength)))
            .WithSummary("The served model: task, labels, model, precision and the request shape it takes.");
        app.MapPost("/predict", (Delegate)((HttpContext context) => PredictAsync(context, predictor.Card, batcher, settings)))
            .Accepts<PredictBody>("application/json")
            .Produces<PredictResponse>(200).Produces<ErrorBody>(400).Produces<ErrorBody>(413).Produces<ErrorBody>(503)
            .WithSummary("Scores texts, pairs or questions; the batcher joins concurrent requests into one call of the model.")
            .WithDescription("Body: {\"texts\": [...]} for one-text and token models, {\"pairs\": [[a, b], ...]} for pair models, " +
                "{\"questions\": [{\"question\": q, \"context\": c}, ...]} for question answering (GET /info says which). Each prediction is " +
                "{label, probabilities} (classification), {score} (regression), {labels, probabilities} (multi-label), {entities, tags} (tokens) or {answer, start, end, score} (QA).");
        return app;
    }

    /// <summary>The address the started app listens on, e.g. <c>http://127.0.0.1:5000</c> (the real port when 0 was asked for).</summary>
    public static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    private static async Task<IResult> PredictAsync(HttpContext context, ModelCard card, DynamicBatcher batcher, ServeSettings settings)
    {
        try
        {
            if (context.Request.ContentLength > settings.MaxRequestBytes) throw TooLarge(context.Request.ContentLength.Value, settings);
            byte[] body;
            using (var buffer = new MemoryStream())
            {
                try { await context.Request.Body.CopyToAsync(buffer, context.RequestAborted); }
                catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge) { throw TooLarge(null, settings); }
                body = buffer.ToArray();
            }
            var inputs = PredictRequest.Parse(body, card, settings);
            if (!batcher.TryEnqueue(inputs, out var result))
            {
                context.Response.Headers.RetryAfter = "1";
                return Results.Json(new ErrorBody($"The server is busy: {settings.QueueSize} requests are waiting for the model (--queue-size), or it is shutting down. Retry after a second."),
                    statusCode: StatusCodes.Status503ServiceUnavailable);
            }
            var predictions = await result;
            return Results.Json(new PredictResponse(predictions));
        }
        catch (RequestException e)
        {
            // A refused body may be left unread; the connection cannot carry another request, so the client must not reuse it.
            if (e.Status == StatusCodes.Status413PayloadTooLarge) context.Response.Headers.Connection = "close";
            return Results.Json(new ErrorBody(e.Message), statusCode: e.Status);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return Results.Json(new ErrorBody($"The model failed on this request: {e.Message}"), statusCode: StatusCodes.Status500InternalServerError);
        }
    }

    private static RequestException TooLarge(long? length, ServeSettings settings) => new(StatusCodes.Status413PayloadTooLarge,
        $"The body is {(length is { } n ? $"{n} bytes" : "larger than the limit")}; the limit is {settings.MaxRequestBytes} bytes (--max-request-bytes). Split the request.");

    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(ServeApp).Assembly.GetManifestResourceStream("MLNetTuning.Serve.index.html")
            ?? throw new InvalidOperationException("The page MLNetTuning.Serve.index.html is not embedded in the assembly; the build lost it.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>Stops taking requests and finishes the queued ones when the host stops; Kestrel then waits for their responses.</summary>
    private sealed class Drain(DynamicBatcher batcher) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => batcher.DrainAsync().WaitAsync(cancellationToken);
    }

    // The JSON bodies; their types also describe the API in the OpenAPI document.
    internal sealed record Health(string Status, int Queued, long Batches, long Predictions);
    internal sealed record Info(string Task, IReadOnlyList<string> Labels, string Model, string Precision, string Input, int MaxBatch, int MaxWaitMs, int MaxInputs, int MaxTextLength);
    internal sealed record ErrorBody(string Error);
    internal sealed record PredictResponse(IReadOnlyList<JsonObject> Predictions);
    internal sealed record QuestionBody(string Question, string Context);
    internal sealed record PredictBody(IReadOnlyList<string>? Texts, IReadOnlyList<IReadOnlyList<string>>? Pairs, IReadOnlyList<QuestionBody>? Questions);
}
