using Microsoft.ML.Data;
using MLNetTuning.MlNet;
using MLNetTuning.Models;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// Everything that differs between tasks, in one object per task (<c>Tasks/</c>): the head it needs, how labels become
/// tensors and a loss, the validation metrics and the score that picks the best model, and the output columns that the
/// model's logits fill. The loop, the session and the transformer ask it; none of them switch on <see cref="BertTask"/>.
/// </summary>
internal abstract class FineTuneTask
{
    protected FineTuneTask(IReadOnlyList<string> headLabels) => HeadLabels = headLabels;

    public abstract BertTask Kind { get; }

    /// <summary>The head's outputs by name (config.json's id2label); their count is the head's size.</summary>
    public IReadOnlyList<string> HeadLabels { get; }

    /// <summary>Hugging Face's <c>problem_type</c>, which also picks the model's loss.</summary>
    public abstract string ProblemType { get; }

    /// <summary>The class names a user sees (multiclass), or none.</summary>
    public virtual IReadOnlyList<string> ClassNames => [];

    /// <summary>Whether a validation split keeps each class's share (classification) or draws rows at random.</summary>
    public virtual bool StratifiedSplit => true;

    /// <summary>The label standardisation the model zip stores for every task (layout v1.x): identity but for regression.</summary>
    public virtual (float Mean, float Scale) LabelScaling => (0, 1);

    /// <summary>Throws, naming the column, when a label column of <paramref name="type"/> cannot hold this task's labels.</summary>
    /// <param name="type">The label column's type.</param>
    /// <param name="column">The label column's name.</param>
    /// <param name="dataName">The data's name in messages ("training data", "validation set").</param>
    /// <param name="classNamesGiven">Whether the training classes are known, so that raw class strings map to them.</param>
    public abstract void CheckLabelType(DataViewType type, string column, string dataName, bool classNamesGiven);

    /// <summary>Whether the label column is a vector (a tag per word, a set of labels) rather than one value per row.</summary>
    public virtual bool LabelIsVector => false;

    /// <summary>Whether an estimator's label column (no data yet, so a key shows as IsKey over UInt32) fits this task.</summary>
    public abstract bool AcceptsLabelShape(bool isKey, DataViewType itemType);

    /// <summary>What the label must be, ending a sentence ("… needs a Boolean.").</summary>
    public abstract string LabelNeed(string column);

    /// <summary>The error for a row whose label is missing (NaN, or key 0), or null to skip the row as ML.NET trainers do.</summary>
    public virtual Exception? MissingLabel(string column, string dataName, long row) => null;

    /// <summary>The label tensor of the chosen examples, in the form <see cref="TrainingLoss"/> and the model's loss take.</summary>
    public abstract Tensor Labels(IReadOnlyList<TokenizedExample> examples, int[] batch, Device device);

    /// <summary>The loss that training minimises; tasks add their weights and smoothing to the model's plain loss.</summary>
    public virtual Tensor TrainingLoss(BertTaskModel model, Tensor logits, Tensor labels) => model.Loss(logits, labels);

    /// <summary>Metrics of <paramref name="logits"/> ([N, K] row-major, K = the head's size) against the examples' labels.</summary>
    public abstract Dictionary<string, double> Metrics(float[] logits, IReadOnlyList<TokenizedExample> examples);

    /// <summary>The metrics that may pick the best model; the first is the default.</summary>
    protected abstract IReadOnlyList<ValidationMetric> SelectionMetrics { get; }

    /// <summary>The score that picks the best model and drives early stopping.</summary>
    /// <exception cref="ArgumentException"><paramref name="metric"/> does not apply to this task.</exception>
    public ValidationScore Score(ValidationMetric metric)
    {
        if (metric == ValidationMetric.Default) metric = SelectionMetrics[0];
        if (!SelectionMetrics.Contains(metric))
            throw new ArgumentException($"BertFineTuneOptions.ValidationMetric is {metric}, which does not apply to {Kind}; use one of {string.Join(", ", SelectionMetrics)}.", "options");
        return new ValidationScore(metric.ToString(), higherIsBetter: metric != ValidationMetric.Rmse);
    }

    /// <summary>Sets what the training labels tell about the new head before the first step (multi-label: each label's prior).</summary>
    /// <param name="model">The model with its new head, not yet trained.</param>
    /// <param name="train">The training examples.</param>
    public virtual void BeforeTraining(BertTaskModel model, IReadOnlyList<TokenizedExample> train) { }

    /// <summary>Learns what the trained model's validation outputs can tell, once training is over (multi-label thresholds).</summary>
    /// <param name="validationLogits">Scores <paramref name="validation"/> with the final model (logits as <see cref="Metrics"/> takes them); called only by a task that needs them.</param>
    /// <param name="validation">The validation examples.</param>
    public virtual void AfterTraining(Func<float[]> validationLogits, IReadOnlyList<TokenizedExample> validation) { }

    /// <summary>Turns the head's raw outputs into the units a user sees, in place (regression undoes its standardisation).</summary>
    public virtual void ToLabelUnits(float[] logits) { }

    /// <summary>The columns the transformer adds.</summary>
    public abstract IReadOnlyList<OutputColumn> OutputColumns { get; }

    /// <summary>Scores one batch of input rows (the text column, then the pair column when there is one) and fills <see cref="OutputColumns"/>.</summary>
    public abstract void MapBatch(FineTunedBert model, InputBatch inputs, bool hasPair, OutputBatch outputs);

    /// <summary>The head model this task trains, as Hugging Face names it (sequence classification unless a task says otherwise).</summary>
    public virtual BertTaskModel CreateModel(BertConfig config, Device? device = null) => ModelFamilies.Of(config).CreateSequenceClassifier(config, device);

    /// <summary>Hugging Face's class name of that head model for BERT (config.json's architectures); <see cref="ModelFamily.Architecture"/> renames it for other families.</summary>
    public virtual string Architecture => "BertForSequenceClassification";

    /// <summary>
    /// How many logits one example contributes to <see cref="Metrics"/>: the head's size per text, or per token of the
    /// example for a per-token head (padding left out).
    /// </summary>
    public virtual int LogitsPerExample(TokenizedExample example) => HeadLabels.Count;

    /// <summary>
    /// The head as Python's <c>BertForSequenceClassification</c> reads it: new weight and bias to write instead of the
    /// trained ones (the caller disposes them), or null to write them as they are. May set the exported config's labels.
    /// </summary>
    /// <param name="config">The exported config (a copy).</param>
    /// <param name="weight">The trained head's weight [K, H]; read, never changed.</param>
    /// <param name="bias">The trained head's bias [K].</param>
    /// <param name="classNames">Names the caller gives the classes, where the task takes them (binary).</param>
    public virtual (Tensor Weight, Tensor Bias)? ExportHead(BertConfig config, Tensor weight, Tensor bias, IReadOnlyList<string>? classNames) => null;
}
