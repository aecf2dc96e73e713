namespace MLNetTuning.Cli;

/// <summary>A failure the user can fix (a missing file, a column that is not there); printed without a stack trace, exit code 1.</summary>
internal class CliException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>A command line that does not make sense (options that exclude each other, no input); exit code 2 like a parse error.</summary>
internal sealed class UsageException(string message) : CliException(message);

/// <summary>Ctrl+C stopped training after a checkpoint was written: the message says where and how to resume.</summary>
internal sealed class CancelledWithCheckpointException(string message, Exception inner) : OperationCanceledException(message, inner);

/// <summary>The process exit codes.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}
