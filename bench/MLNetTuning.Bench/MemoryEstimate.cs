namespace MLNetTuning.Bench;

/// <summary>
/// What fine-tuning MiniLM must hold at its peak, in float32: the weights, their gradients, AdamW's two moments, and the
/// activations that autograd keeps for the backward pass at the largest batch.
/// </summary>
/// <remarks>
/// Per layer, with T = B·S tokens, hidden H, intermediate I and a heads, the saved tensors are: the inputs of the four
/// linear layers (3·T·H + T·I: hidden, attention context, first LayerNorm output, GELU output), Q, K and V (3·T·H), the
/// GELU input (T·I), the two LayerNorm inputs (2·T·H), two hidden dropout masks (2·T·H bytes), and for attention with
/// dropout the softmax output and the dropped probabilities (2·B·a·S², float32) plus their mask (B·a·S² bytes).
/// The embeddings keep about 3·T·H more. Everything else (the head, LayerNorm statistics) is negligible.
/// </remarks>
internal sealed record MemoryEstimate(double WeightsGb, double GradientsGb, double AdamGb, double ActivationsGb)
{
    public double TotalGb => WeightsGb + GradientsGb + AdamGb + ActivationsGb;

    public static MemoryEstimate ForTraining(long parameters, int batch, int length, int layers = 6, int hidden = 384,
        int intermediate = 1536, int heads = 12)
    {
        const double Gb = 1024.0 * 1024 * 1024;
        double tokens = (double)batch * length;
        double floatsPerLayer = tokens * hidden * 8 + tokens * intermediate * 2 + 2.0 * batch * heads * length * length;
        double bytesPerLayer = 4 * floatsPerLayer + 2 * tokens * hidden + (double)batch * heads * length * length;
        double activations = layers * bytesPerLayer + 4 * 3 * tokens * hidden;
        double weights = 4.0 * parameters;
        return new MemoryEstimate(weights / Gb, weights / Gb, 2 * weights / Gb, activations / Gb);
    }

    public string Describe() =>
        $"weights {WeightsGb:F2} + gradients {GradientsGb:F2} + AdamW moments {AdamGb:F2} + activations {ActivationsGb:F2} GB";
}
