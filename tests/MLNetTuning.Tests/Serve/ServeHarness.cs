using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using MLNetTuning.Serve;

namespace MLNetTuning.Tests.Serve;

/// <summary>A started server on a free loopback port and a client for it; disposing stops the server (draining it).</summary>
internal sealed class ServeHarness : IAsyncDisposable
{
    private ServeHarness(WebApplication app, HttpClient client) => (App, Client) = (app, client);

    public WebApplication App { get; }
    public HttpClient Client { get; }

    public static async Task<ServeHarness> StartAsync(IPredictor predictor, ServeSettings? settings = null)
    {
        var app = ServeApp.Create(predictor, (settings ?? new ServeSettings()) with { Host = "127.0.0.1", Port = 0 });
        await app.StartAsync();
        // Every call is bounded: a hung server fails the test instead of hanging the run.
        var client = new HttpClient { BaseAddress = new Uri(ServeApp.Address(app)), Timeout = TimeSpan.FromSeconds(60) };
        return new ServeHarness(app, client);
    }

    public Task<HttpResponseMessage> PostAsync(string json) =>
        Client.PostAsync("predict", new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>Posts and returns the predictions, failing with the server's message unless it answered 200.</summary>
    public async Task<JsonArray> PredictAsync(string json)
    {
        using var response = await PostAsync(json);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return (JsonNode.Parse(body)!["predictions"] as JsonArray)!;
    }

    public async Task<JsonObject> GetJsonAsync(string path) => (await Client.GetFromJsonAsync<JsonObject>(path))!;

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
