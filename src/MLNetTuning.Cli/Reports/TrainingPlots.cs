using MLNetTuning.IO;
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
        plot.ShowLegend(Edge.Bottom);
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>
    /// The validation metrics of every evaluation by (fractional) epoch: the selection metric in bold, the other metrics that live
    /// in [0, 1] thin beside it, and the evaluation whose weights the model kept marked.
    /// </summary>
    public static void Validation(TrainingHistory history, TrainingEvaluation? kept, string path)
    {
        var plot = new Plot();
        string metric = history.SelectionMetric ?? "metric";
        plot.Title("Validation metrics");
        plot.XLabel("epoch");
        plot.YLabel(metric);
        var evaluations = history.Evaluations.Where(e => e.Metrics.ContainsKey(metric)).ToList();
        if (evaluations.Count == 0)
        {
            plot.Add.Annotation("No validation data: give --validation FILE, --validation-rows N or --validation-fraction F.", Alignment.MiddleCenter);
            AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Width, Height, ImageFormat.Png));
            return;
        }
        int stepsPerEpoch = Math.Max(1, history.Steps.Where(s => s.Epoch == 1).Select(s => s.Step).DefaultIfEmpty(1).Max());
        double Epoch(TrainingEvaluation e) => (double)e.Step / stepsPerEpoch;
        double[] x = evaluations.Select(Epoch).ToArray();
        var others = evaluations[0].Metrics.Keys
            .Where(name => name != metric && !name.Contains("Loss", StringComparison.Ordinal) && evaluations.All(e => e.Metrics.TryGetValue(name, out double v) && v is >= 0 and <= 1));
        bool unitScale = evaluations.All(e => e.Metrics[metric] is >= 0 and <= 1);
        if (unitScale)
        {
            var palette = new ScottPlot.Palettes.Category10();
            int colour = 1;
            foreach (var name in others)
            {
                var line = plot.Add.Scatter(x, evaluations.Select(e => e.Metrics[name]).ToArray(), palette.GetColor(colour++));
                line.LineWidth = 1;
                line.MarkerSize = 4;
                line.LegendText = name;
            }
            plot.YLabel("metric");
        }
        var main = plot.Add.Scatter(x, evaluations.Select(e => e.Metrics[metric]).ToArray(), Colors.Black);
        main.LineWidth = 3;
        main.MarkerSize = 9;
        main.LegendText = $"{metric} (selects the best)";
        if (kept is not null && kept.Metrics.TryGetValue(metric, out double value))
        {
            var marker = plot.Add.Marker(Epoch(kept), value, MarkerShape.FilledDiamond, 18, Colors.OrangeRed);
            marker.LegendText = $"kept: epoch {kept.Epoch}, step {kept.Step} ({metric} {value:F4})";
            plot.Add.VerticalLine(Epoch(kept), 1, Colors.OrangeRed.WithAlpha(0.5), LinePattern.Dotted);
        }
        // One evaluation alone would give a zero-width axis.
        plot.Axes.SetLimitsX(0, Math.Max(1, x.Max()) * 1.05);
        plot.ShowLegend(Edge.Bottom);
        AtomicFile.WriteAllBytes(path, plot.GetImageBytes(Width, Height, ImageFormat.Png));
    }

    /// <summary>
    /// The evaluation whose weights the saved model has: the best one when it was restored, else the last one if it ran after the
    /// last step; null when the final weights were never evaluated.
    /// </summary>
    public static TrainingEvaluation? Kept(TrainingHistory history, bool restoreBestModel)
    {
        if (restoreBestModel && history.Best is not null) return history.Best;
        var last = history.Evaluations.LastOrDefault();
        return last is not null && history.Steps.Count > 0 && last.Step == history.Steps[^1].Step ? last : null;
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
