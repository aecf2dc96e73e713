using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace MLNetTuning.Serve;

/// <summary>
/// Gathers the inputs of concurrent requests into one call of the model: the first waiting request opens a batch, which
/// takes the requests queued behind it until it holds <see cref="ServeSettings.MaxBatch"/> inputs or
/// <see cref="ServeSettings.MaxWaitMs"/> has passed. One worker calls the model, so a model need not be thread-safe, and
/// ONNX Runtime or libtorch gets all the cores for one larger product instead of many small ones. The queue is bounded:
/// <see cref="TryEnqueue"/> refuses a request when it is full, and the server answers 503.
/// </summary>
internal sealed class DynamicBatcher
{
    private readonly IPredictor _predictor;
    private readonly int _maxBatch;
    private readonly TimeSpan _maxWait;
    private readonly Channel<Work> _queue;
    private readonly Task _worker;
    private long _batches, _predictions;

    private sealed record Work(IReadOnlyList<PredictInput> Inputs, TaskCompletionSource<IReadOnlyList<JsonObject>> Done);

    public DynamicBatcher(IPredictor predictor, ServeSettings settings)
    {
        _predictor = predictor;
        _maxBatch = settings.MaxBatch;
        _maxWait = TimeSpan.FromMilliseconds(settings.MaxWaitMs);
        _queue = Channel.CreateBounded<Work>(new BoundedChannelOptions(settings.QueueSize) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _worker = Task.Run(RunAsync);
    }

    /// <summary>Calls of the model so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Inputs scored so far.</summary>
    public long Predictions => Interlocked.Read(ref _predictions);

    /// <summary>Requests waiting for the model.</summary>
    public int Queued => _queue.Reader.Count;

    /// <summary>Queues a request; false when the queue is full or the server is draining.</summary>
    public bool TryEnqueue(IReadOnlyList<PredictInput> inputs, out Task<IReadOnlyList<JsonObject>> result)
    {
        // RunContinuationsAsynchronously: the worker must not run each request's response writing inline.
        var work = new Work(inputs, new TaskCompletionSource<IReadOnlyList<JsonObject>>(TaskCreationOptions.RunContinuationsAsynchronously));
        result = work.Done.Task;
        return _queue.Writer.TryWrite(work);
    }

    /// <summary>Refuses new requests and waits until every queued one has been scored (shutdown).</summary>
    public Task DrainAsync()
    {
        _queue.Writer.TryComplete();
        return _worker;
    }

    private async Task RunAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Work>();
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            int inputs = 0;
            long deadline = Stopwatch.GetTimestamp() + (long)(_maxWait.TotalSeconds * Stopwatch.Frequency);
            while (inputs < _maxBatch)
            {
                if (reader.TryPeek(out var next))
                {
                    // A request is never split: one that would overflow the batch opens the next one instead (a request larger
                    // than the batch is scored alone).
                    if (inputs > 0 && inputs + next.Inputs.Count > _maxBatch) break;
                    reader.TryRead(out _);
                    batch.Add(next);
                    inputs += next.Inputs.Count;
                    continue;
                }
                var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (batch.Count > 0 && left <= TimeSpan.Zero) break;
                using var timeout = new CancellationTokenSource(left > TimeSpan.Zero ? left : TimeSpan.Zero);
                try
                {
                    if (!await reader.WaitToReadAsync(batch.Count > 0 ? timeout.Token : CancellationToken.None).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException) { break; }
            }
            if (batch.Count > 0) Score(batch, inputs);
        }
    }

    private void Score(List<Work> batch, int count)
    {
        var inputs = new List<PredictInput>(count);
        foreach (var work in batch) inputs.AddRange(work.Inputs);
        try
        {
            var outputs = _predictor.Predict(inputs);
            if (outputs.Count != inputs.Count) throw new InvalidOperationException($"The model gave {outputs.Count} predictions for {inputs.Count} inputs.");
            int offset = 0;
            foreach (var work in batch)
            {
                work.Done.TrySetResult(outputs.Skip(offset).Take(work.Inputs.Count).ToList());
                offset += work.Inputs.Count;
            }
            Interlocked.Increment(ref _batches);
            Interlocked.Add(ref _predictions, count);
        }
        catch (Exception e)
        {
            // A failure of the model fails the requests of this batch only; the worker goes on with the next.
            foreach (var work in batch) work.Done.TrySetException(e);
        }
    }
}
