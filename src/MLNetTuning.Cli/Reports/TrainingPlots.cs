using ScottPlot;

namespace MLNetTuning.Cli.Reports;

/// <summary>PNG plots of a training history, rendered offline by ScottPlot.</summary>
internal static class TrainingPlots
{
    private const int Width = 900, Height = 500;

    /// <summary>The training loss of every step and its moving average, with the epoch boundaries.</summary>
    public static void Loss(TrainingHistory history, string path)
    {
        var plot = new Plot();
        var steps = history.Steps;
        double[] x = steps.Select(s => (double)s.Step).ToArray();
        double[] loss = steps.Select(s => (double)s.Loss).ToArray();
        int window = SmoothingWindow(loss.Length);
        var raw = plot.Add.ScatterLine(x, loss, Colors.SteelBlue.WithAlpha(0.35));
        raw.LegendText = "loss per step";
        var smooth = plot.Add.ScatterLine(x, MovingAverage(loss, window), Colors.DarkBlue);
        smooth.LineWidth = 2.5f;
        smooth.LegendText = $"moving average ({window} steps)";
        foreach (var boundary in steps.GroupBy(s => s.Epoch).Select(g => g.Max(s => s.Step)).SkipLast(1))
        {
            var line = plot.Add.VerticalLine(boundary + 0.5, 1, Colors.Gray, LinePattern.Dashed);
            line.LegendText = "";
        }
        plot.Title("Training loss");
        plot.XLabel("optimizer step");
        plot.YLabel("loss");
        plot.ShowLegend(Alignment.UpperRight);
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>The selection metric of every evaluation by (fractional) epoch, with the evaluation whose weights were kept marked.</summary>
    public static void Validation(TrainingHistory history, string path)
    {
        var plot = new Plot();
        string metric = history.SelectionMetric ?? "metric";
        plot.Title($"Validation {metric}");
        plot.XLabel("epoch");
        plot.YLabel(metric);
        var evaluations = history.Evaluations.Where(e => e.Metrics.ContainsKey(metric)).ToList();
        if (evaluations.Count == 0)
        {
            plot.Add.Annotation("No validation data: give --validation FILE, --validation-rows N or --validation-fraction F.", Alignment.MiddleCenter);
        }
        else
        {
            int stepsPerEpoch = Math.Max(1, history.Steps.Where(s => s.Epoch == 1).Select(s => s.Step).DefaultIfEmpty(1).Max());
            double Epoch(TrainingEvaluation e) => (double)e.Step / stepsPerEpoch;
            var line = plot.Add.Scatter(evaluations.Select(Epoch).ToArray(), evaluations.Select(e => e.Metrics[metric]).ToArray(), Colors.DarkGreen);
            line.LineWidth = 2;
            line.MarkerSize = 8;
            line.LegendText = $"validation {metric}";
            if (history.Best is { } best && best.Metrics.TryGetValue(metric, out double value))
            {
                var kept = plot.Add.Marker(Epoch(best), value, MarkerShape.FilledDiamond, 18, Colors.OrangeRed);
                kept.LegendText = $"kept: epoch {best.Epoch}, step {best.Step} ({metric} {value:F4})";
                plot.Add.VerticalLine(Epoch(best), 1, Colors.OrangeRed.WithAlpha(0.5), LinePattern.Dotted);
            }
            // One evaluation alone would give a zero-width axis.
            double last = evaluations.Max(Epoch);
            plot.Axes.SetLimitsX(0, Math.Max(1, last) * 1.05);
            plot.ShowLegend(Alignment.LowerRight);
        }
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>About a fifteenth of the run, so that the trend shows through the noise of small batches.</summary>
    public static int SmoothingWindow(int steps) => Math.Max(1, steps / 15);

    /// <summary>The trailing mean of up to <paramref name="window"/> values ending at each position.</summary>
    public static double[] MovingAverage(double[] values, int window)
    {
        var result = new double[values.Length];
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }
}
