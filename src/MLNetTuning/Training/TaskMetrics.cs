namespace MLNetTuning.Training;

/// <summary>Validation metrics computed from predictions, matching the definitions of ML.NET's evaluators.</summary>
internal static class TaskMetrics
{
    /// <summary><paramref name="probabilities"/> is [N, K] row-major softmax output; labels are class indices.</summary>
    public static Dictionary<string, double> Multiclass(float[] probabilities, int[] labels, int classes)
    {
        int n = labels.Length;
        var truePositive = new double[classes];
        var predicted = new double[classes];
        var actual = new double[classes];
        double correct = 0, logLoss = 0;
        for (int i = 0; i < n; i++)
        {
            var row = probabilities.AsSpan(i * classes, classes);
            int best = 0;
            for (int k = 1; k < classes; k++) if (row[k] > row[best]) best = k;
            predicted[best]++;
            actual[labels[i]]++;
            if (best == labels[i]) { correct++; truePositive[best]++; }
            logLoss -= Math.Log(Math.Max(row[labels[i]], 1e-15));
        }
        double macroF1 = 0;
        int present = 0;
        for (int k = 0; k < classes; k++)
        {
            if (actual[k] == 0 && predicted[k] == 0) continue;   // a class absent from both sides has no F1
            present++;
            macroF1 += 2 * truePositive[k] / (actual[k] + predicted[k]);
        }
        return new()
        {
            ["Accuracy"] = n == 0 ? 0 : correct / n,
            ["MacroF1"] = present == 0 ? 0 : macroF1 / present,
            ["LogLoss"] = n == 0 ? 0 : logLoss / n,
        };
    }

    /// <summary>Raw scores (logits) and bool labels; probabilities are their sigmoid.</summary>
    public static Dictionary<string, double> Binary(float[] scores, bool[] labels)
    {
        int n = labels.Length;
        double tp = 0, fp = 0, fn = 0, correct = 0, logLoss = 0;
        for (int i = 0; i < n; i++)
        {
            double p = Sigmoid(scores[i]);
            bool predicted = p >= 0.5;
            if (predicted == labels[i]) correct++;
            if (predicted && labels[i]) tp++;
            else if (predicted) fp++;
            else if (labels[i]) fn++;
            logLoss -= Math.Log(Math.Max(labels[i] ? p : 1 - p, 1e-15));
        }
        return new()
        {
            ["Auc"] = Auc(scores, labels),
            ["F1"] = tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn),
            ["Accuracy"] = n == 0 ? 0 : correct / n,
            ["LogLoss"] = n == 0 ? 0 : logLoss / n,
        };
    }

    public static Dictionary<string, double> Regression(float[] predictions, float[] labels)
    {
        int n = labels.Length;
        double squared = 0, absolute = 0, mean = labels.Length == 0 ? 0 : labels.Average(l => (double)l), total = 0;
        for (int i = 0; i < n; i++)
        {
            double error = predictions[i] - labels[i];
            squared += error * error;
            absolute += Math.Abs(error);
            total += (labels[i] - mean) * (labels[i] - mean);
        }
        return new()
        {
            ["Rmse"] = n == 0 ? 0 : Math.Sqrt(squared / n),
            ["MeanAbsoluteError"] = n == 0 ? 0 : absolute / n,
            ["RSquared"] = total == 0 ? 0 : 1 - squared / total,
        };
    }

    internal static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    /// <summary>Area under the ROC curve by the rank-sum (Mann–Whitney) formula, with tied scores sharing their mean rank.</summary>
    internal static double Auc(float[] scores, bool[] labels)
    {
        var order = Enumerable.Range(0, scores.Length).OrderBy(i => scores[i]).ToArray();
        double positives = labels.Count(l => l), negatives = labels.Length - positives;
        if (positives == 0 || negatives == 0) return double.NaN;
        double rankSum = 0;
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && scores[order[end + 1]] == scores[order[start]]) end++;
            double meanRank = (start + end) / 2.0 + 1;
            for (int j = start; j <= end; j++) if (labels[order[j]]) rankSum += meanRank;
            start = end + 1;
        }
        return (rankSum - positives * (positives + 1) / 2) / (positives * negatives);
    }
}
