using MLNetTuning.MlNet;

namespace MLNetTuning.Training;

/// <summary>A task with one prediction per text (or text pair): the head's logits of each row fill that row's outputs.</summary>
internal abstract class TextLevelTask(IReadOnlyList<string> headLabels) : FineTuneTask(headLabels)
{
    /// <summary>Fills <see cref="FineTuneTask.OutputColumns"/> for <paramref name="rows"/> rows from their logits (in label units).</summary>
    public abstract void WriteOutputs(float[] logits, int rows, OutputBatch outputs);

    public override void MapBatch(FineTunedBert model, InputBatch inputs, bool hasPair, OutputBatch outputs)
    {
        WriteOutputs(model.Score(inputs.Texts(0), hasPair ? inputs.Texts(1) : null), inputs.Count, outputs);
    }
}
