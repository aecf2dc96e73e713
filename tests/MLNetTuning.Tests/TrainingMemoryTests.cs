using System.Diagnostics;
using Microsoft.ML;
using Xunit.Abstractions;

namespace MLNetTuning.Tests;

/// <summary>
/// Resident memory of a training run must not grow with the steps: every native tensor handle a step takes (gradients,
/// clipping, optimizer temporaries) is freed when the step ends, not when the garbage collector happens to finalize it.
/// The tests run alone (resident memory is per process), after every parallel test class.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TrainingMemoryCollection
{
    public const string Name = "Training memory";
}

[Collection(TrainingMemoryCollection.Name)]
public sealed class TrainingMemoryTests(ITestOutputHelper output)
{
    // A step that kept its gradients would add a full gradient set per step: 4 MB on the 1 M-parameter model below, 90 MB on
    // MiniLM, so 180 steps would add 0.7 GB and 16 GB. 200 MB allows for the allocator's caches and the steps' varying lengths.
    private const long Margin = 200L << 20;

    [Fact]
    public void ResidentMemoryStaysFlat_TinyModel()
    {
        // Wide enough (hidden 256, 1.05 M parameters) that a leaked gradient set per step would be plain in the resident set.
        string folder = TinyCheckpoint.Create(seed: 5, hidden: 256, layers: 2, heads: 4);
        try
        {
            var options = TextData.Options(folder, BertTask.MulticlassClassification, epochs: 1);
            options.BatchSize = 4;
            options.MaxSequenceLength = 16;
            AssertFlat(options, TextData.Topics(800, seed: 1).Select(r => (r.Text!, r.Label)), "tiny");
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
        }
    }

    [Fact]
    public void ResidentMemoryStaysFlat_MiniLM()
    {
        var options = new BertFineTuneOptions
        {
            Model = "all-MiniLM-L6-v2", Task = BertTask.MulticlassClassification, Epochs = 1, BatchSize = 2, MaxSequenceLength = 16,
            LearningRate = 5e-5f, Seed = 1, NumberOfThreads = Environment.ProcessorCount,
        };
        AssertFlat(options, TextData.Topics(400, seed: 1).Select(r => (r.Text!, r.Label)), "MiniLM");
    }

    [Fact]
    public void EmbeddedExportPagesLeaveTheWorkingSetOnceRead()
    {
        // The 87 MB ONNX export of MiniLM lives in its package's assembly, mapped from the file; reading the weights out of it
        // touches every page, and before the fix they stayed resident for the life of the process.
        var model = MLNetTuning.Pretrained.EmbeddedModels.Get("all-MiniLM-L6-v2");
        var weights = model.LoadStateDict();
        try
        {
            Assert.Contains("embeddings.word_embeddings.weight", weights.Keys);
            long resident = MappedResidentBytes(model.AssemblyName + ".dll");
            output.WriteLine($"resident pages of {model.AssemblyName}.dll after the import: {resident >> 10} kB");
            Assert.True(resident < 16L << 20, $"{resident >> 20} MB of {model.AssemblyName}.dll stayed resident after its weights were imported; the export's pages should have been released.");
        }
        finally
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
        }
    }

    [Fact]
    public void ReleaseFreeMemory_HandsWhatTheTunedAllocatorKeptBackToTheKernel()
    {
        // Fit calls it after training: the tuned allocator keeps every freed block for the next step, and without the release the
        // optimizer's moments and the steps' freed activations stayed resident under the scoring that follows.
        MLNetTuning.Native.TorchNativeLoader.EnsureLoaded();
        Assert.True(MLNetTuning.Native.NativeAllocator.Tuned, "The test process should run with the library's allocator tuning (MLNETTUNING_MALLOC unset).");
        var tensors = Enumerable.Range(0, 64).Select(_ => TorchSharp.torch.ones(1 << 20)).ToList();   // 64 blocks of 4 MB, written
        foreach (var tensor in tensors) tensor.Dispose();
        long kept = ResidentBytes();
        MLNetTuning.Native.NativeAllocator.ReleaseFreeMemory();
        long released = kept - ResidentBytes();
        output.WriteLine($"resident {kept >> 20} MB after freeing 256 MB of tensors, {released >> 20} MB less after the release");
        Assert.True(released > 128L << 20, $"Only {released >> 20} MB of 256 MB of freed tensors went back to the kernel.");
    }

    /// <summary>The resident bytes of every mapping of a file whose name ends with <paramref name="fileName"/> (/proc/self/smaps).</summary>
    private static long MappedResidentBytes(string fileName)
    {
        long total = 0;
        bool inFile = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            if (line.Length > 0 && char.IsAsciiHexDigit(line[0]) && line.Contains('-'))
                inFile = line.EndsWith("/" + fileName, StringComparison.Ordinal);
            else if (inFile && line.StartsWith("Rss:", StringComparison.Ordinal))
                total += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        return total;
    }

    private void AssertFlat(BertFineTuneOptions options, IEnumerable<(string Text, string Label)> rows, string name)
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(rows.Select(r => new TopicRow { Text = r.Text, Label = r.Label }));
        long atStep20 = 0, atStep200 = 0, peak = 0, liveAt20 = 0, liveAt200 = 0;
        options.Progress = new SynchronousProgress<TrainingProgress>(p =>
        {
            if (p.Metrics is not null) return;
            long resident = ResidentBytes();
            peak = Math.Max(peak, resident);
            // Tensors this thread (the training loop's) created and has not disposed: exact, whatever else the process does.
            long live = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            if (p.Step == 20) (atStep20, liveAt20) = (resident, live);
            if (p.Step == 200) (atStep200, liveAt200) = (resident, live);
        });
        // A collection now, so that garbage from earlier tests is not what the steps see grow or shrink.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var model = ml.Transforms.Conversion.MapValueToKey("Label").Append(new BertFineTuneEstimator(ml, options)).Fit(data).LastTransformer;
        Assert.True(model.History.Steps.Count >= 200, $"{name}: the run took only {model.History.Steps.Count} steps; the test needs 200.");
        output.WriteLine($"{name}: resident {atStep20 >> 20} MB at step 20, {atStep200 >> 20} MB at step 200, peak {peak >> 20} MB; " +
                         $"live tensors {liveAt20} and {liveAt200}");
        Assert.True(liveAt200 == liveAt20, $"{name}: {liveAt20} live tensors after step 20 but {liveAt200} after step 200: a step leaves tensor handles undisposed.");
        Assert.True(atStep200 - atStep20 < Margin,
            $"{name}: resident memory grew from {atStep20 >> 20} MB at step 20 to {atStep200 >> 20} MB at step 200; a step keeps native memory alive.");
    }

    private static long ResidentBytes()
    {
        using var self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }
}
