using TorchSharp;
using static TorchSharp.torch;

namespace MLNetTuning.Models;

/// <summary>
/// The linear layers' weights of a model that is only scored, kept in oneDNN's blocked layout (in the products' type) so
/// that a forward pass does not reorder, and in mixed precision cast, every weight again. Measured on MiniLM's layers
/// (bench/README.md): about a fifth less time per product at 128 tokens, and in bfloat16 also at 2,048.
/// </summary>
/// <remarks>
/// oneDNN picks the layout from the number of rows too (MiniLM's 384→1536 weight takes up to seven layouts between 1 and
/// 4,096 rows in float32, two in bfloat16), and a weight in another layout than its primitive wants is reordered again,
/// slowly, on every call. So the layout each row count wants is asked once (by packing for it) and remembered, and a
/// layer keeps one packed copy, in the layout asked for most often; a row count that wants another runs the ordinary
/// kernel, which costs what it always cost. Swapping the copy on every change would make texts of varied lengths slower
/// than the ordinary kernel. The copy is the price in memory: one more copy of the encoder's linear weights in the
/// products' type (float32: 42 MB for MiniLM, 340 MB for BERT-base). Weights must not change while this is in use;
/// <see cref="EncoderModel.ScoringOnly"/> is that promise.
/// </remarks>
internal sealed class PreparedWeights : IDisposable
{
    /// <summary>Row counts remembered per layer before the map starts again: scoring sees at most a few hundred.</summary>
    private const int MaxRowCounts = 4096;

    private readonly Dictionary<object, Layer> _layers = new(ReferenceEqualityComparer.Instance);
    private readonly object _gate = new();
    private bool _disposed;

    private sealed class Layer
    {
        public bool Unsupported;
        public readonly Dictionary<long, string> LayoutOf = [];
        public readonly Dictionary<string, long> Uses = [];
        public string? Layout;
        public Tensor? Packed;
        public Tensor? Bias;

        public void Release()
        {
            Packed?.Dispose();
            Bias?.Dispose();
            (Packed, Bias, Layout) = (null, null, null);
        }
    }

    /// <summary>How many products ran on prepared weights (for tests).</summary>
    internal long PreparedProducts { get; private set; }

    /// <summary>The layout of <paramref name="owner"/>'s resident copy, or null (for tests).</summary>
    internal string? ResidentLayout(object owner)
    {
        lock (_gate) return _layers.TryGetValue(owner, out var layer) ? layer.Layout : null;
    }

    /// <summary>
    /// [..., in] → [..., out]: x·Wᵀ + b then <paramref name="activation"/> (a config's <c>hidden_act</c>, or null) on the
    /// prepared copy of <paramref name="owner"/>'s weight, in <paramref name="computeType"/> (null: float32); null where
    /// this does not apply (autograd on, not the CPU, no bias, a weight not in float32, no oneDNN operators), and the
    /// caller runs the ordinary kernel.
    /// </summary>
    public Tensor? TryApply(object owner, Func<(Tensor Weight, Tensor? Bias)> weights, Tensor input, ScalarType? computeType, string? activation)
    {
        if (is_grad_enabled() || input.device_type != DeviceType.CPU || !OneDnnOps.Available) return null;
        var fused = Fused(activation, out bool applyAfter);
        using var scope = NewDisposeScope();
        Tensor output;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_layers.TryGetValue(owner, out var layer)) _layers[owner] = layer = new Layer();
            if (layer.Unsupported) return null;
            long features = input.shape[^1], rows = input.numel() / features;
            Tensor? once = null;   // packed for this call only: a layout that is not the resident one
            if (!layer.LayoutOf.TryGetValue(rows, out var wanted))
            {
                // A row count not seen before: packing for it tells which layout oneDNN wants.
                var (weight, bias) = weights();
                if (bias is null || weight.dtype != ScalarType.Float32 || weight.device_type != DeviceType.CPU || weight.dim() != 2)
                {
                    layer.Unsupported = true;
                    return null;
                }
                var type = computeType ?? ScalarType.Float32;
                once = OneDnnOps.Pack(weight.detach().to_type(type), rows);
                wanted = OneDnnOps.LayoutKey(once);
                if (layer.LayoutOf.Count >= MaxRowCounts) layer.LayoutOf.Clear();
                layer.LayoutOf[rows] = wanted;
                layer.Bias ??= bias.detach().to_type(type).DetachFromDisposeScope();
            }
            layer.Uses[wanted] = layer.Uses.GetValueOrDefault(wanted) + 1;
            // The resident copy is the layout asked for most often; another takes its place once it is asked for more.
            if (wanted != layer.Layout && (layer.Layout is null || layer.Uses[wanted] > layer.Uses[layer.Layout]))
            {
                if (once is null)
                {
                    var (weight, _) = weights();
                    once = OneDnnOps.Pack(weight.detach().to_type(layer.Bias!.dtype), rows);
                }
                layer.Packed?.Dispose();
                layer.Packed = once.DetachFromDisposeScope();
                layer.Layout = wanted;
                once = null;
            }
            var packed = wanted == layer.Layout ? layer.Packed! : once;
            // Another layout, asked for less often: the ordinary kernel, which reorders as it always did.
            if (packed is null) return null;
            var flat = input.reshape(rows, features).to_type(packed.dtype);
            output = OneDnnOps.Linear(flat, packed, layer.Bias!, fused);
            PreparedProducts++;
        }
        var shape = input.shape.ToArray();
        shape[^1] = output.shape[1];
        output = output.view(shape);
        if (applyAfter) output = Activations.Apply(activation!, output);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>The oneDNN post-op for a config's activation, or null with <paramref name="applyAfter"/> set when it has none.</summary>
    private static string? Fused(string? activation, out bool applyAfter)
    {
        applyAfter = false;
        switch (activation)
        {
            case null: return null;
            case "gelu": return "gelu";
            case "gelu_new" or "gelu_pytorch_tanh": return "gelu_tanh";
            case "relu": return "relu";
            default: applyAfter = true; return null;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var layer in _layers.Values) layer.Release();
            _layers.Clear();
        }
    }
}
