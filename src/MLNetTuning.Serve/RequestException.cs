namespace MLNetTuning.Serve;

/// <summary>A request the server refuses: the HTTP status and a message that says what was wrong and what is expected.</summary>
internal sealed class RequestException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
