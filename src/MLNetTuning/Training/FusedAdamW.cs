using System.Numerics;
using static TorchSharp.torch;

namespace MLNetTuning.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter; PyTorch's formulation, decoupled weight decay, bias-corrected moments) for float32
/// parameters on the CPU, updating each parameter, its two moments and nothing else in one vectorised pass on all cores.
/// </summary>
/// <remarks>
/// TorchSharp's AdamW runs about ten tensor operations per parameter, each a full pass over memory, plus a temporary for
/// the denominator. A MiniLM step touches 22.7 M parameters, so the optimizer is memory-bound, and one pass instead of
/// ten is what makes it cheap (bench/README.md). <see cref="Create"/> falls back to TorchSharp's AdamW on other devices.
/// </remarks>
internal sealed class FusedAdamW : IFineTuneOptimizer
{
    private readonly (TorchSharp.Modules.Parameter Parameter, Tensor Mean, Tensor Variance, float WeightDecay)[] _parameters;
    private readonly float _beta1, _beta2, _epsilon;
    private int _step;

    public FusedAdamW(IEnumerable<(TorchSharp.Modules.Parameter Parameter, float WeightDecay)> parameters, float beta1, float beta2, float epsilon)
    {
        _parameters = parameters.Select(p =>
        {
            if (p.Parameter.dtype != ScalarType.Float32 || p.Parameter.device_type != TorchSharp.DeviceType.CPU || !p.Parameter.is_contiguous())
                throw new ArgumentException($"FusedAdamW updates contiguous float32 CPU parameters; got {p.Parameter.dtype} on {p.Parameter.device}.");
            return (p.Parameter, zeros_like(p.Parameter), zeros_like(p.Parameter), p.WeightDecay);
        }).ToArray();
        (_beta1, _beta2, _epsilon) = (beta1, beta2, epsilon);
    }

    public double LearningRate { get; set; }

    /// <summary>
    /// AdamW over <paramref name="model"/>'s trainable parameters in two groups: biases and LayerNorm weights are not decayed,
    /// as in BERT's original recipe. Fused on the CPU, TorchSharp's AdamW elsewhere.
    /// </summary>
    public static IFineTuneOptimizer Create(TorchSharp.torch.nn.Module model, FineTuneArguments options)
    {
        var named = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        static bool NoDecay(string name) => MLNetTuning.Models.ModelFamily.NoWeightDecay(name);
        if (named.All(p => p.parameter.device_type == TorchSharp.DeviceType.CPU && p.parameter.dtype == ScalarType.Float32 && p.parameter.is_contiguous()))
            return new FusedAdamW(named.Select(p => (p.parameter, NoDecay(p.name) ? 0f : options.WeightDecay)), options.AdamBeta1, options.AdamBeta2, options.AdamEpsilon)
            { LearningRate = options.LearningRate };
        var groups = new[]
        {
            new TorchSharp.Modules.AdamW.ParamGroup(named.Where(p => !NoDecay(p.name)).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { weight_decay = options.WeightDecay }),
            new TorchSharp.Modules.AdamW.ParamGroup(named.Where(p => NoDecay(p.name)).Select(p => p.parameter), new TorchSharp.Modules.AdamW.Options { weight_decay = 0 }),
        };
        return new TorchAdamW(TorchSharp.torch.optim.AdamW(groups, options.LearningRate, options.AdamBeta1, options.AdamBeta2, options.AdamEpsilon));
    }

    /// <summary>Frees the gradients: the next backward writes fresh ones, as <c>zero_grad(set_to_none: true)</c> does.</summary>
    public void ZeroGrad()
    {
        foreach (var (parameter, _, _, _) in _parameters)
        {
            var grad = parameter.grad;
            if (grad is null) continue;
            parameter.grad = null;
            grad.Dispose();
        }
    }

    /// <summary>One AdamW step for every parameter that has a gradient.</summary>
    public unsafe void Step()
    {
        _step++;
        float correction1 = 1 - MathF.Pow(_beta1, _step), correction2 = 1 - MathF.Pow(_beta2, _step);
        float stepSize = (float)LearningRate / correction1, rootCorrection2 = MathF.Sqrt(correction2);
        var work = new List<(IntPtr Values, IntPtr Grads, IntPtr Mean, IntPtr Variance, long Count, float Decay)>();
        // Every read of Parameter.grad makes a new native handle that keeps the gradient's storage alive until it is disposed.
        // Left to the finalizer (which rarely runs: the managed object is small), each step kept a full gradient set alive.
        var handles = new List<Tensor>();
        foreach (var (parameter, mean, variance, weightDecay) in _parameters)
        {
            if (parameter.grad is not { } grad) continue;
            handles.Add(grad);
            if (!grad.is_contiguous()) handles.Add(grad = grad.contiguous());
            work.Add((Pointer(parameter), Pointer(grad), Pointer(mean), Pointer(variance), parameter.numel(), 1 - (float)LearningRate * weightDecay));
        }
        // Chunks of 64 K elements spread the large embedding matrix and the many small vectors evenly over the cores.
        const long ChunkSize = 1 << 16;
        var chunks = work.SelectMany((w, index) => Enumerable.Range(0, (int)((w.Count + ChunkSize - 1) / ChunkSize)).Select(c => (index, Start: c * ChunkSize))).ToArray();
        Parallel.For(0, chunks.Length, i =>
        {
            var (index, start) = chunks[i];
            var w = work[index];
            int count = (int)Math.Min(ChunkSize, w.Count - start);
            Update(new Span<float>((float*)w.Values + start, count), new ReadOnlySpan<float>((float*)w.Grads + start, count),
                new Span<float>((float*)w.Mean + start, count), new Span<float>((float*)w.Variance + start, count),
                w.Decay, stepSize, rootCorrection2);
        });
        foreach (var handle in handles) handle.Dispose();
    }

    private void Update(Span<float> values, ReadOnlySpan<float> grads, Span<float> mean, Span<float> variance, float decay, float stepSize, float rootCorrection2)
    {
        float beta1 = _beta1, beta2 = _beta2, epsilon = _epsilon;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var (vBeta1, vBeta2, vOneMinusBeta1, vOneMinusBeta2) = (new Vector<float>(beta1), new Vector<float>(beta2), new Vector<float>(1 - beta1), new Vector<float>(1 - beta2));
            var (vDecay, vStep, vRoot, vEpsilon) = (new Vector<float>(decay), new Vector<float>(stepSize), new Vector<float>(rootCorrection2), new Vector<float>(epsilon));
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var g = new Vector<float>(grads[i..]);
                var m = vBeta1 * new Vector<float>(mean[i..]) + vOneMinusBeta1 * g;
                var v = vBeta2 * new Vector<float>(variance[i..]) + vOneMinusBeta2 * g * g;
                var p = vDecay * new Vector<float>(values[i..]) - vStep * m / (Vector.SquareRoot(v) / vRoot + vEpsilon);
                m.CopyTo(mean[i..]);
                v.CopyTo(variance[i..]);
                p.CopyTo(values[i..]);
            }
        }
        for (; i < values.Length; i++)
        {
            float g = grads[i];
            float m = mean[i] = beta1 * mean[i] + (1 - beta1) * g;
            float v = variance[i] = beta2 * variance[i] + (1 - beta2) * g * g;
            values[i] = decay * values[i] - stepSize * m / (MathF.Sqrt(v) / rootCorrection2 + epsilon);
        }
    }

    /// <summary>Writes the moments and the step count to <c>optimizer.safetensors</c> in <paramref name="folder"/>.</summary>
    public void Save(string folder)
    {
        // Parameters are in the model's named_parameters order, which the same model and freezing always repeats.
        var tensors = _parameters.SelectMany((p, i) => new[] { KeyValuePair.Create($"exp_avg.{i}", p.Mean), KeyValuePair.Create($"exp_avg_sq.{i}", p.Variance) });
        Checkpoints.SafeTensors.Save(Path.Combine(folder, StateFile), tensors, metadata: new Dictionary<string, string>
        {
            ["optimizer"] = nameof(FusedAdamW),
            ["step"] = _step.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
    }

    /// <summary>Restores what <see cref="Save"/> wrote, checking that it was written for parameters of the same shapes.</summary>
    public void Load(string folder)
    {
        string path = Path.Combine(folder, StateFile);
        if (!File.Exists(path))
            throw new InvalidDataException($"{folder}: the checkpoint has no {StateFile}; it was written by another optimizer (TorchSharp's AdamW, on a GPU). Resume on the device it was written on.");
        var metadata = Checkpoints.SafeTensors.ReadMetadata(path);
        if (!metadata.TryGetValue("step", out var stepText) || !int.TryParse(stepText, System.Globalization.CultureInfo.InvariantCulture, out int step) || step < 0)
            throw new InvalidDataException($"{path}: the metadata has no valid 'step' (found '{stepText}').");
        var tensors = Checkpoints.SafeTensors.Load(path, floatDType: null);
        try
        {
            if (tensors.Count != 2 * _parameters.Length)
                throw new InvalidDataException($"{path}: holds moments for {tensors.Count / 2} parameters, but the model trains {_parameters.Length}. The checkpoint was written for another model or freezing.");
            using var noGrad = no_grad();
            for (int i = 0; i < _parameters.Length; i++)
                foreach (var (name, target) in new[] { ($"exp_avg.{i}", _parameters[i].Mean), ($"exp_avg_sq.{i}", _parameters[i].Variance) })
                {
                    if (!tensors.TryGetValue(name, out var source) || !source.shape.SequenceEqual(target.shape) || source.dtype != target.dtype)
                        throw new InvalidDataException($"{path}: '{name}' is missing or has another shape or type than parameter {i} [{string.Join(", ", target.shape)}] {target.dtype}.");
                    target.copy_(source);
                }
            _step = step;
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
    }

    private const string StateFile = "optimizer.safetensors";

    private static unsafe IntPtr Pointer(Tensor tensor)
    {
        // The span is over the tensor's native memory, which the GC never moves.
        fixed (byte* data = tensor.bytes) return (IntPtr)data;
    }

    public void Dispose()
    {
        foreach (var (_, mean, variance, _) in _parameters)
        {
            mean.Dispose();
            variance.Dispose();
        }
    }
}

/// <summary>What the fine-tuning loop needs from an optimizer.</summary>
internal interface IFineTuneOptimizer : IDisposable
{
    /// <summary>The learning rate of the next <see cref="Step"/> (the schedule sets it before every step).</summary>
    double LearningRate { get; set; }
    void Step();
    void ZeroGrad();
    /// <summary>Writes the optimizer's state (moments, step count) into a checkpoint folder.</summary>
    void Save(string folder);
    /// <summary>Restores the state that <see cref="Save"/> wrote.</summary>
    void Load(string folder);
}

/// <summary>TorchSharp's AdamW, for parameters that <see cref="FusedAdamW"/> does not handle (a GPU).</summary>
internal sealed class TorchAdamW(TorchSharp.Modules.AdamW optimizer) : IFineTuneOptimizer
{
    public double LearningRate
    {
        get => optimizer.ParamGroups.First().LearningRate;
        set { foreach (var group in optimizer.ParamGroups) group.LearningRate = value; }
    }

    // TorchSharp's step and zero_grad read Parameter.grad, a new native handle per call: the scope frees them now, not at finalization.
    public void Step()
    {
        using var scope = NewDisposeScope();
        optimizer.step();
    }

    public void ZeroGrad()
    {
        using var scope = NewDisposeScope();
        optimizer.zero_grad();
    }

    public void Save(string folder) => optimizer.save_state_dict(Path.Combine(folder, StateFile));

    public void Load(string folder)
    {
        string path = Path.Combine(folder, StateFile);
        if (!File.Exists(path))
            throw new InvalidDataException($"{folder}: the checkpoint has no {StateFile}; it was written by the fused CPU optimizer. Resume on the device it was written on.");
        optimizer.load_state_dict(path);
    }

    private const string StateFile = "optimizer.bin";

    public void Dispose() => optimizer.Dispose();
}
