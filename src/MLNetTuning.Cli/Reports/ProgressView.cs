using System.Globalization;
using Spectre.Console;

namespace MLNetTuning.Cli.Reports;

/// <summary>
/// Shows training progress: a live Spectre progress bar on a terminal, plain periodic lines when the output is redirected
/// (CI logs, tests). Every evaluation prints a line in both modes.
/// </summary>
internal static class ProgressView
{
    /// <summary>Runs <paramref name="work"/> with a progress sink that reports synchronously on the training thread.</summary>
    public static T Run<T>(CliHost host, Func<IProgress<TrainingProgress>, T> work)
    {
        var console = host.Out;
        if (!host.LiveProgress)
        {
            console.WriteLine("preparing: loading the model and tokenizing the data ...");
            return work(new Sink(PlainStep(console), p => console.WriteLine(EvaluationLine(p))));
        }
        return console.Progress()
            .AutoClear(false)
            .Columns(new ProgressBarColumn { Width = 20 }, new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(context =>
            {
                var task = context.AddTask("preparing: loading the model and tokenizing the data", maxValue: 1);
                task.IsIndeterminate = true;
                var sink = new Sink(p =>
                {
                    task.IsIndeterminate = false;
                    task.MaxValue = p.TotalSteps;
                    task.Value = p.Step;
                    task.Description = Markup.Escape(CompactStepLine(p));
                }, p => console.MarkupLine($"[blue]{Markup.Escape(EvaluationLine(p))}[/]"));
                return work(sink);
            });
    }

    public static string StepLine(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"epoch {p.Epoch}  step {p.Step}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:0.0E+0}  {p.ExamplesPerSecond:F1} examples/s  ETA {Duration(p.Eta)}");

    /// <summary>The step line short enough to sit beside the bar in an 80-column terminal.</summary>
    public static string CompactStepLine(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"ep {p.Epoch} · {p.Step}/{p.TotalSteps} · loss {p.Loss:F3} · lr {p.LearningRate:0.0E+0} · {p.ExamplesPerSecond:F1} ex/s · ETA {Duration(p.Eta)}");

    public static string EvaluationLine(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"evaluation at epoch {p.Epoch}, step {p.Step}: ") + string.Join("  ", p.Metrics!.Select(m => $"{m.Key} {ConsoleTables.Format(m.Value)}"));

    public static string Duration(TimeSpan t) => t.TotalHours >= 1
        ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}"
        : $"{t.Minutes:00}:{t.Seconds:00}";

    /// <summary>About twenty lines per run, plus the first and the last step, so that a log shows the trend without flooding.</summary>
    private static Action<TrainingProgress> PlainStep(IAnsiConsole console) => p =>
    {
        int every = Math.Max(1, p.TotalSteps / 20);
        if (p.Step == 1 || p.Step % every == 0 || p.Step == p.TotalSteps) console.WriteLine("  " + StepLine(p));
    };

    private sealed class Sink(Action<TrainingProgress> onStep, Action<TrainingProgress> onEvaluation) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Metrics is null) onStep(value);
            else onEvaluation(value);
        }
    }
}
