using System.Net;
using System.Text.Json.Nodes;
using MLNetTuning.Serve;

namespace MLNetTuning.Tests.Serve;

/// <summary>The server's own behaviour over loopback, on a keyword stand-in for the model: status codes, messages, the bounded queue, batching and draining.</summary>
public sealed class ServeErrorTests
{
    private static async Task<(HttpStatusCode Status, string Error)> ErrorOf(Task<HttpResponseMessage> call)
    {
        using var response = await call;
        string body = await response.Content.ReadAsStringAsync();
        Assert.False(response.IsSuccessStatusCode, body);
        return (response.StatusCode, (string)JsonNode.Parse(body)!["error"]!);
    }

    [Fact]
    public async Task Predict_ScoresTextsInOrder_AndTheInfoHealthAndPageAnswer()
    {
        using var predictor = new KeywordPredictor();
        await using var server = await ServeHarness.StartAsync(predictor);
        var predictions = await server.PredictAsync("""{"texts": ["a special offer", "lunch at noon", "another offer"]}""");
        Assert.Equal(["spam", "ham", "spam"], predictions.Select(p => (string)p!["label"]!));
        Assert.Equal(0.9f, (float)predictions[0]!["probabilities"]!["spam"]!, 5);

        var info = await server.GetJsonAsync("info");
        Assert.Equal("BinaryClassification", (string?)info["task"]);
        Assert.Equal(["ham", "spam"], info["labels"]!.AsArray().Select(l => (string)l!));
        Assert.Equal("texts", (string?)info["input"]);
        Assert.Equal("ok", (string?)(await server.GetJsonAsync("healthz"))["status"]);

        string page = await server.Client.GetStringAsync("/");
        Assert.Contains("<script>", page);
        Assert.DoesNotContain("https://", page);   // no CDN: the page works offline
        var openApi = await server.GetJsonAsync("openapi/v1.json");
        Assert.NotNull(openApi["paths"]!["/predict"]!["post"]);
        Assert.NotNull(openApi["paths"]!["/info"]);
    }

    public static TheoryData<string, string> BadBodies => new()
    {
        { """{"texts": ["a", }""", "not valid JSON" },
        { "", "not valid JSON" },
        { """["a", "b"]""", "is a JSON array; expected an object" },
        { """{"text": ["a"]}""", "Unknown property 'text'" },
        { """{}""", "The property 'texts' is missing" },
        { """{"texts": "a"}""", "'texts' is a JSON string; expected an array" },
        { """{"texts": []}""", "'texts' is empty" },
        { """{"texts": ["a", 3]}""", "texts[1] is the number 3; expected a string" },
        { """{"texts": ["a", null]}""", "texts[1] is null; expected a string" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task MalformedRequests_Get400NamingWhatWasWrong(string body, string expected)
    {
        using var predictor = new KeywordPredictor();
        await using var server = await ServeHarness.StartAsync(predictor);
        var (status, error) = await ErrorOf(server.PostAsync(body));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(expected, error);
    }

    [Fact]
    public async Task Limits_Answer413ForSizeAndCount_And400ForALongText()
    {
        using var predictor = new KeywordPredictor();
        await using var server = await ServeHarness.StartAsync(predictor, new ServeSettings { MaxRequestBytes = 1000, MaxInputs = 4, MaxTextLength = 50 });

        var (status, error) = await ErrorOf(server.PostAsync(new JsonObject { ["texts"] = new JsonArray(new string('x', 2000)) }.ToJsonString()));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("the limit is 1000 bytes (--max-request-bytes)", error);

        // Chunked (no Content-Length): Kestrel's own limit stops the read, and the answer is still 413 with a message.
        using (var request = new HttpRequestMessage(HttpMethod.Post, "predict") { Content = new PushContent(new string('x', 2000)) })
        {
            var (chunkedStatus, chunkedError) = await ErrorOf(server.Client.SendAsync(request));
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunkedStatus);
            Assert.Contains("--max-request-bytes", chunkedError);
        }

        (status, error) = await ErrorOf(server.PostAsync("""{"texts": ["a", "b", "c", "d", "e"]}"""));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("holds 5 inputs; the limit is 4 per request (--max-inputs)", error);

        (status, error) = await ErrorOf(server.PostAsync(new JsonObject { ["texts"] = new JsonArray("ok", new string('y', 51)) }.ToJsonString()));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("texts[1] has 51 characters; the limit is 50 (--max-text-length)", error);

        Assert.Equal(4, (await server.PredictAsync("""{"texts": ["a", "b", "c", "offer"]}""")).Count);
    }

    /// <summary>A body written in chunks, with no Content-Length.</summary>
    private sealed class PushContent(string text) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes("{\"texts\": [\""));
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes("\"]}"));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Fact]
    public async Task PairAndQuestionModels_RefuseTheOtherShapes()
    {
        var pairs = new ModelCard("MulticlassClassification", ["a", "b"], "m", "float32", InputKind.Pairs);
        var questions = new ModelCard("QuestionAnswering", [], "m", "float32", InputKind.Questions);
        var limits = new ServeSettings();
        Assert.Equal(("x", "y"), PredictRequest.Parse("""{"pairs": [["x", "y"]]}"""u8.ToArray(), pairs, limits).Select(i => (i.Text, i.Second)).Single());
        Assert.Contains("pairs[0] is an array of 3; expected an array of two strings",
            Assert.Throws<RequestException>(() => PredictRequest.Parse("""{"pairs": [["x", "y", "z"]]}"""u8.ToArray(), pairs, limits)).Message);
        Assert.Contains("this MulticlassClassification model takes 'pairs'",
            Assert.Throws<RequestException>(() => PredictRequest.Parse("""{"texts": ["x"]}"""u8.ToArray(), pairs, limits)).Message);
        Assert.Equal(("q", "c"), PredictRequest.Parse("""{"questions": [{"question": "q", "context": "c"}]}"""u8.ToArray(), questions, limits)
            .Select(i => (i.Text, i.Second)).Single());
        Assert.Contains("questions[0] lacks 'context'",
            Assr(() => PredictRequest.Parse("""{"questions": [{"question": "q"}]}"""u8.ToArray(), questions, limits)));
        Assert.Contains("questions[0].context has 30 characters",
            Assr(() => PredictRequest.Parse("""{"questions": [{"question": "q", "context": "cccccccccccccccccccccccccccccc"}]}"""u8.ToArray(), questions, limits with { MaxTextLength = 20 })));
        static string Assr(Action parse) => Assert.Throws<RequestException>(parse).Message;
    }

    [Fact]
    public async Task AFullQueue_Answers503WithRetryAfter()
    {
        using var predictor = new KeywordPredictor();
        await using var server = await ServeHarness.StartAsync(predictor, new ServeSettings { QueueSize = 2, MaxBatch = 1, MaxWaitMs = 0 });
        predictor.Hold();
        // One request inside the model, two waiting in the queue: the fourth finds the queue full.
        var first = server.PostAsync("""{"texts": ["one"]}""");
        Assert.True(predictor.Entered.Wait(TimeSpan.FromSeconds(20)), "The first request never reached the model.");
        var queued = new[] { server.PostAsync("""{"texts": ["two"]}"""), server.PostAsync("""{"texts": ["three"]}""") };
        await WaitUntil(async () => (int)(await server.GetJsonAsync("healthz"))["queued"]! == 2);

        using (var refused = await server.PostAsync("""{"texts": ["four"]}"""))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString() is { } r ? r : refused.Headers.GetValues("Retry-After").Single());
            Assert.Contains("--queue-size", await refused.Content.ReadAsStringAsync());
        }
        predictor.Release();
        foreach (var call in queued.Prepend(first))
            using (var response = await call) Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Shutdown_AnswersTheRequestsInFlight_AndRefusesNewOnes()
    {
        using var predictor = new KeywordPredictor();
        var server = await ServeHarness.StartAsync(predictor, new ServeSettings { MaxBatch = 1, MaxWaitMs = 0 });
        predictor.Hold();
        var inFlight = Enumerable.Range(0, 3).Select(i => server.PostAsync($$"""{"texts": ["offer {{i}}"]}""")).ToList();
        Assert.True(predictor.Entered.Wait(TimeSpan.FromSeconds(20)), "No request reached the model.");
        await WaitUntil(async () => (int)(await server.GetJsonAsync("healthz"))["queued"]! == 2);

        var stopping = server.App.StopAsync();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted, "The server stopped while requests were still in flight.");
        predictor.Release();
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        foreach (var call in inFlight)
        {
            using var response = await call;
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("spam", (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["predictions"]![0]!["label"]!);
        }
        Assert.Equal([1, 1, 1], predictor.BatchSizes);
        await server.DisposeAsync();
    }

    [Fact]
    public async Task ConcurrentRequests_AreJoinedUpToMaxBatch()
    {
        using var predictor = new KeywordPredictor();
        await using var server = await ServeHarness.StartAsync(predictor, new ServeSettings { MaxBatch = 8, MaxWaitMs = 0 });
        predictor.Hold();
        var first = server.PostAsync("""{"texts": ["first"]}""");
        Assert.True(predictor.Entered.Wait(TimeSpan.FromSeconds(20)));
        // 12 one-text requests and a 3-text one queue up while the model is busy; they go in batches of at most 8 inputs.
        var calls = Enumerable.Range(0, 12).Select(i => server.PostAsync($$"""{"texts": ["t{{i}}"]}""")).Append(server.PostAsync("""{"texts": ["x", "y", "z"]}""")).ToList();
        await WaitUntil(async () => (int)(await server.GetJsonAsync("healthz"))["queued"]! == 13);
        predictor.Release();
        await first;
        foreach (var call in calls) using (var response = await call) Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        lock (predictor.BatchSizes)
        {
            Assert.Equal(1 + 15, predictor.BatchSizes.Sum());
            Assert.All(predictor.BatchSizes, size => Assert.InRange(size, 1, 8));
            Assert.True(predictor.BatchSizes.Count <= 4, $"Batches: {string.Join(", ", predictor.BatchSizes)}");
        }
    }

    [Fact]
    public void Settings_OutOfRange_NameTheirOption()
    {
        Assert.Contains("--max-batch is 0", Assert.Throws<ArgumentOutOfRangeException>(() => new ServeSettings { MaxBatch = 0 }.Validate()).Message);
        Assert.Contains("--port is 70000", Assert.Throws<ArgumentOutOfRangeException>(() => new ServeSettings { Port = 70000 }.Validate()).Message);
        Assert.Contains("--host is 'localhost'", Assert.Throws<ArgumentException>(() => new ServeSettings { Host = "localhost" }.Validate()).Message);
    }

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The server never reached the expected state.");
            await Task.Delay(10);
        }
    }
}
