using Spectre.Console;

namespace MLNetTuning.Cli;

/// <summary>Where a command reads and writes, and its Ctrl+C token. Tests build one over string writers.</summary>
internal sealed class CliHost
{
    /// <summary>Human-readable output (tables, progress).</summary>
    public required IAnsiConsole Out { get; init; }

    /// <summary>Messages about failures.</summary>
    public required IAnsiConsole Error { get; init; }

    /// <summary>Machine-readable output (JSON lines), written unwrapped and unstyled.</summary>
    public required TextWriter RawOut { get; init; }

    /// <summary>The writer behind <see cref="Error"/>, for System.CommandLine's own messages.</summary>
    public required TextWriter RawError { get; init; }

    /// <summary>Standard input, read by predict and embed when no texts are given.</summary>
    public required TextReader In { get; init; }

    /// <summary>True when standard input is a pipe or file rather than a terminal.</summary>
    public bool InputRedirected { get; init; }

    /// <summary>True when the output is a terminal, so a live progress bar can redraw in place.</summary>
    public bool LiveProgress { get; init; }

    /// <summary>Cancelled by Ctrl+C; training stops after the current step.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>The real console. The first Ctrl+C asks training to stop cleanly; a second one ends the process.</summary>
    public static CliHost FromProcess()
    {
        var cancel = new CancellationTokenSource();
        var error = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        Console.CancelKeyPress += (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;
            e.Cancel = true;
            cancel.Cancel();
            error.MarkupLine("[yellow]Ctrl+C: stopping after the current step (press again to kill).[/]");
        };
        // Redirected output (CI logs) gets no terminal width; 80 columns would wrap the metric tables.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;
        if (Console.IsErrorRedirected) error.Profile.Width = 160;
        return new CliHost
        {
            Out = AnsiConsole.Console,
            Error = error,
            RawOut = Console.Out,
            RawError = Console.Error,
            In = Console.In,
            InputRedirected = Console.IsInputRedirected,
            LiveProgress = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive,
            Cancellation = cancel.Token,
        };
    }

    /// <summary>A host over plain writers: no colours, no live redraw, plain progress lines.</summary>
    public static CliHost ForWriters(TextWriter output, TextWriter error, TextReader? input = null, CancellationToken cancellation = default) => new()
    {
        Out = PlainConsole(output),
        Error = PlainConsole(error),
        RawOut = output,
        RawError = error,
        In = input ?? TextReader.Null,
        InputRedirected = input is not null,
        LiveProgress = false,
        Cancellation = cancellation,
    };

    private static IAnsiConsole PlainConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        // Wide enough that metric tables and messages are not wrapped in logs.
        console.Profile.Width = 160;
        return console;
    }
}
