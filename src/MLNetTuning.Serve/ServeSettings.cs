namespace MLNetTuning.Serve;

/// <summary>The server's address, batching and limits, as <c>mlnet-tune serve</c>'s options set them.</summary>
internal sealed record ServeSettings
{
    /// <summary>The address to listen on; loopback by default, 0.0.0.0 in a container.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The port; 0 picks a free one (tests).</summary>
    public int Port { get; init; } = 5000;

    /// <summary>The most inputs scored in one call of the model; 1 turns dynamic batching off.</summary>
    public int MaxBatch { get; init; } = 32;

    /// <summary>How long the first request of a batch waits for others to join it.</summary>
    public int MaxWaitMs { get; init; } = 5;

    /// <summary>Requests waiting for the model; one more is answered 503 with Retry-After.</summary>
    public int QueueSize { get; init; } = 256;

    /// <summary>The largest request body, in bytes (413 above it).</summary>
    public long MaxRequestBytes { get; init; } = 1 << 20;

    /// <summary>The most inputs in one request (413 above it).</summary>
    public int MaxInputs { get; init; } = 256;

    /// <summary>The longest text, question or context, in characters (400 above it).</summary>
    public int MaxTextLength { get; init; } = 20_000;

    /// <exception cref="ArgumentOutOfRangeException">A setting is out of range; the message names its option.</exception>
    public void Validate()
    {
        static void Check(bool ok, string option, object value, string expected)
        {
            if (!ok) throw new ArgumentOutOfRangeException(option, value, $"{option} is {value}; it must be {expected}.");
        }
        Check(Port is >= 0 and <= 65535, "--port", Port, "between 0 and 65535");
        Check(MaxBatch >= 1, "--max-batch", MaxBatch, "at least 1");
        Check(MaxWaitMs >= 0, "--max-wait-ms", MaxWaitMs, "0 or more");
        Check(QueueSize >= 1, "--queue-size", QueueSize, "at least 1");
        Check(MaxRequestBytes >= 64, "--max-request-bytes", MaxRequestBytes, "at least 64");
        Check(MaxInputs >= 1, "--max-inputs", MaxInputs, "at least 1");
        Check(MaxTextLength >= 1, "--max-text-length", MaxTextLength, "at least 1");
        if (!System.Net.IPAddress.TryParse(Host, out _))
            throw new ArgumentException($"--host is '{Host}'; it must be an IP address such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface).", "--host");
    }
}
