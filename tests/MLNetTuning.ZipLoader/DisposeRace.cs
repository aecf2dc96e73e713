using Microsoft.ML;

/// <summary>
/// Two prediction engines share one loaded model (text column "Text", a float "Score"). One thread scores with the first
/// while the main thread disposes the second, which by ML.NET's default (OwnsTransformer) disposes the shared model. The
/// scoring thread must end with an ObjectDisposedException, never a crash or another error. Prints one line per round
/// and "ok", and exits 0; any other outcome exits 1 (a native crash kills the process).
/// </summary>
internal static class DisposeRace
{
    public sealed class Input
    {
        public string Text { get; set; } = "";
    }

    public sealed class Output
    {
        public float Score { get; set; }
    }

    public static int Run(string zip, int rounds)
    {
        var ml = new MLContext(seed: 0);
        // Long texts keep each forward pass busy, so the dispose lands during one far more often than between two.
        string text = string.Join(' ', Enumerable.Repeat("free money meeting project report", 40));
        for (int round = 1; round <= rounds; round++)
        {
            ITransformer model = ml.Model.Load(zip, out _);
            var scoring = ml.Model.CreatePredictionEngine<Input, Output>(model);
            var disposing = ml.Model.CreatePredictionEngine<Input, Output>(model);
            long predictions = 0;
            Exception? ended = null;
            using var started = new ManualResetEventSlim();
            var thread = new Thread(() =>
            {
                try
                {
                    while (true)
                    {
                        scoring.Predict(new Input { Text = text });
                        Interlocked.Increment(ref predictions);
                        started.Set();
                    }
                }
                catch (Exception e)
                {
                    ended = e;
                    started.Set();
                }
            });
            thread.Start();
            started.Wait();
            Thread.Sleep(round % 5);
            disposing.Dispose();
            if (!thread.Join(TimeSpan.FromSeconds(60)))
            {
                Console.WriteLine($"round {round}: the scoring thread still runs 60 s after the model was disposed");
                return 1;
            }
            Console.WriteLine($"round {round}: {Interlocked.Read(ref predictions)} predictions, then {ended?.GetType().Name}");
            if (ended is not ObjectDisposedException)
            {
                Console.WriteLine($"round {round}: expected ObjectDisposedException, got {ended}");
                return 1;
            }
        }
        Console.WriteLine("ok");
        return 0;
    }
}
