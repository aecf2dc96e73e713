using System.CommandLine;
using System.CommandLine.Help;
using MLNetTuning.Cli.Commands;
using MLNetTuning.Cli.Modeling;
using Spectre.Console;

namespace MLNetTuning.Cli;

/// <summary>The `mlnet-tune` command tree, and the one place that turns failures into messages and exit codes.</summary>
internal static class CliApp
{
    /// <summary>Runs one command line; returns 0 on success, 1 on a failure, 2 on a usage error.</summary>
    public static int Run(string[] args, CliHost host)
    {
        // Numbers in tables, reports and JSON read the same on every machine.
        System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
        var verbose = new Option<bool>("--verbose") { Description = "Show stack traces of errors", Recursive = true };
        var root = new RootCommand("mlnet-tune: fine-tune BERT-family text encoders with ML.NET, offline, on the CPU.")
        {
            verbose,
            new TrainCommand().Create(host),
            EvaluateCommand.Create(host),
            PredictCommand.Create(host),
            EmbedCommand.Create(host),
            ExportCommand.Create(host),
            MLNetTuning.Serve.ServeCommand.Create(path => ZipPredictor.Open(path), host.RawOut, host.Cancellation),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            foreach (var error in parsed.Errors) WriteError(host, Readable(error.Message));
            string command = parsed.CommandResult.Command == root ? "" : parsed.CommandResult.Command.Name + " ";
            host.Error.WriteLine($"Run 'mlnet-tune {command}--help' for the options.");
            return ExitCodes.Usage;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration
            {
                // Failures are reported below; Ctrl+C is the host's, so that training can stop after a step instead of being killed.
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
                Output = host.RawOut,
                Error = host.RawError,
            });
        }
        catch (Exception e)
        {
            return Report(host, e, parsed.GetValue(verbose));
        }
    }

    private static int Report(CliHost host, Exception e, bool verbose)
    {
        var root = e is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerException! : e;
        if (root is OperationCanceledException)
        {
            host.Error.WriteLine(root is CancelledWithCheckpointException ? root.Message : "cancelled, nothing written");
            return ExitCodes.Failure;
        }
        WriteError(host, Message(root));
        if (verbose) host.Error.WriteLine(root.ToString());
        else if (!IsExpected(root)) host.Error.WriteLine("(run with --verbose for the stack trace)");
        return root is UsageException ? ExitCodes.Usage : ExitCodes.Failure;
    }

    /// <summary>Failures the user can fix; their message says how. Anything else is a bug or an environment problem.</summary>
    private static bool IsExpected(Exception e) =>
        e is CliException or ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException;

    /// <summary>The message, and the messages of the causes that add something (ML.NET wraps errors raised inside cursors).</summary>
    private static string Message(Exception e)
    {
        var parts = new List<string>();
        for (var current = e; current is not null; current = current.InnerException)
        {
            string message = current is ArgumentException argument && argument.ParamName is not null
                ? current.Message.Replace($" (Parameter '{argument.ParamName}')", "", StringComparison.Ordinal)
                : current.Message;
            if (!parts.Any(p => p.Contains(message, StringComparison.Ordinal))) parts.Add(message);
        }
        return string.Join(" ← ", parts);
    }

    /// <summary>System.CommandLine names the expected type as .NET spells it; a user knows "an integer".</summary>
    private static string Readable(string message) => System.Text.RegularExpressions.Regex.Replace(message,
        @"'System\.Nullable`1\[(?<type>[^\]]+)\]'|'(?<type>System\.[A-Za-z0-9.`\[\]]+)'|'(?<type>MLNetTuning\.[A-Za-z]+)'", m => m.Groups["type"].Value switch
        {
            "System.Int32" => "an integer",
            "System.Single" or "System.Double" => "a number",
            "System.Boolean" => "true or false",
            var type when type.StartsWith("MLNetTuning.", StringComparison.Ordinal) && Type.GetType(type + ", MLNetTuning") is { IsEnum: true } e
                => "one of " + string.Join(", ", Enum.GetNames(e)),
            var type => type,
        });

    private static void WriteError(CliHost host, string message) => host.Error.MarkupLine($"[red]error:[/] {Markup.Escape(message)}");
}
