using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetTuning;

/// <summary>
/// A training process for the checkpoint tests: fine-tunes a tiny model on a Label/Text TSV with checkpoints, exports the
/// final weights as a Hugging Face folder and prints every step's loss, so that a run killed with SIGKILL and resumed can
/// be compared with one that never stopped. With a block step above 0 it stops inside that step's progress report and
/// waits there for the parent to kill it: the kill then lands at a known point, mid-epoch, with no timing involved.
/// </summary>
internal static class TrainChild
{
    // Usage: --train <model folder> <train.tsv> <checkpoint dir> <output folder> <Fp32|Bf16> <accumulation> <block at step, 0 for none> <resume: 0|1>
    public static int Run(string[] args)
    {
        var (model, tsv, checkpoints, output) = (args[0], args[1], args[2], args[3]);
        var precision = Enum.Parse<NumericPrecision>(args[4]);
        int accumulation = int.Parse(args[5], CultureInfo.InvariantCulture), blockAt = int.Parse(args[6], CultureInfo.InvariantCulture);
        bool resume = args[7] == "1";

        var ml = new MLContext(seed: 0);
        ml.Log += (_, e) =>
        {
            if (e.Message.Contains("checkpoint", StringComparison.Ordinal) || e.Message.StartsWith("resumed", StringComparison.Ordinal)) Console.WriteLine(e.Message);
        };
        var data = ml.Data.LoadFromTextFile(tsv, new TextLoader.Options
        {
            HasHeader = true,
            Separators = ['\t'],
            Columns = [new TextLoader.Column("Label", DataKind.String, 0), new TextLoader.Column("Text", DataKind.String, 1)],
        });
        var options = new BertFineTuneOptions
        {
            Model = model, Epochs = 2, BatchSize = 4, GradientAccumulationSteps = accumulation, LearningRate = 2e-3f, MaxSequenceLength = 32,
            NumberOfThreads = 1, Seed = 8, Precision = precision, ValidationFraction = 0.2f, EvaluateEveryNSteps = 5,
            // The final weights, not the best: they carry every step of the second epoch.
            RestoreBestModel = false,
            CheckpointDirectory = checkpoints, CheckpointEverySteps = 3, ResumeFromCheckpoint = resume ? BertFineTuneOptions.LatestCheckpoint : null,
            Progress = new BlockAt(blockAt),
        };
        using var fitted = ml.Transforms.Conversion.MapValueToKey("Label").Append(ml.MulticlassClassification.Trainers.BertFineTune(options)).Fit(data);
        var tuned = fitted.LastTransformer;
        foreach (var step in tuned.History.Steps)
            Console.WriteLine(FormattableString.Invariant($"step {step.Step} epoch {step.Epoch} loss {step.Loss:R} lr {step.LearningRate:R}"));
        foreach (var evaluation in tuned.History.Evaluations)
            Console.WriteLine(FormattableString.Invariant($"evaluation step {evaluation.Step} loss {evaluation.ValidationLoss:R}"));
        tuned.ExportHuggingFaceFolder(output);
        Console.WriteLine("done");
        return 0;
    }

    private sealed class BlockAt(int step) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Step != step || value.Metrics is not null) return;
            Console.WriteLine($"blocked at step {step}");
            Console.Out.Flush();
            Thread.Sleep(Timeout.Infinite);
        }
    }
}
