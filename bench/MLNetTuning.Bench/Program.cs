using MLNetTuning;
using MLNetTuning.Bench;

// Benchmarks of MLNetTuning against its peers. bench/run.sh drives everything; the modes here are its parts:
//   worker [--precision fp32|bf16] [--threads N]   a step worker for ../shared/peers/interleave.py (train/infer B S ITERS)
//   epoch  [--rows N] [--max-length N] [--batch N] [--padding grouped|fixed] [--precision ...] [--threads N]
//                                                  one real training epoch on the spam sample, through the ML.NET estimator
//   epoch-peer --batches FILE --peer-fp32 CMD --peer-bf16 CMD [--rows N] [--max-length N] [--batch N] [--rounds N] [--threads N]
//                                                  the epoch end to end against PyTorch 2.6 (bench/peers/epoch_peer.py) training the batches we export
//   transform-peer [--texts N] [--rounds N] [--threads N]
//                                                  scoring texts through model.Transform against FastBertTokenizer + ONNX Runtime in C#
//   accuracy [--rows N] [--threads N] [--seeds N]  the main job's recipe in fp32 and bf16 for seeds 1..N, on the whole test split
//   token  [--rows N] [--max-length N] [--batch N] [--rounds N] [--precision ...] [--threads N]
//                                                  a token-classification epoch on the NER sample against sequence classification of the same sentences
//   multilabel [--rows N] [--max-length N] [--batch N] [--rounds N] [--precision ...] [--threads N]
//                                                  a multi-label epoch on the GoEmotions sample against multiclass on the same comments
//   onnx   [--rows N] [--rounds N] [--threads N]  ONNX export: fp32 and int8 on ONNX Runtime against TorchSharp fp32/bf16 (speed, size, accuracy)
//   onnx-token [--rows N] [--threads N]           int8 against fp32 ONNX Runtime and TorchSharp on NER-EWT entity F1
//   qa     [--rows N] [--max-length N] [--batch N] [--rounds N] [--precision ...] [--threads N]
//                                                  a question-answering epoch on the SQuAD sample against classification of the same (question, context) pairs
//   family [--batch N] [--length N] [--rounds N] [--steps N] [--precision ...] [--threads N]
//                                                  training steps of BERT-, RoBERTa- and DistilBERT-shaped models of MiniLM's size, interleaved
//   serve  [--seconds N] [--threads N]           mlnet-tune serve under 32 clients, with and without dynamic batching, beside raw batched inference
//   micro  [--batch N] [--length N] [--threads N]  the pieces of one layer, forward + backward, to see where a step goes
//   memory --cli PATH [--runs N] [--variant name=KEY=VALUE[;KEY=VALUE]]... [-- extra train arguments]
//                                                  the main job (mlnet-tune train) in its own process: peak memory per phase against the estimate
string mode = args.Length > 0 ? args[0] : "";
string Option(string name, string fallback)
{
    int at = Array.IndexOf(args, "--" + name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
}
var precision = Option("precision", "fp32") switch
{
    "fp32" => NumericPrecision.Fp32,
    "bf16" => NumericPrecision.Bf16,
    var other => throw new ArgumentException($"--precision must be fp32 or bf16, not '{other}'."),
};
int threads = int.Parse(Option("threads", "2"));
return mode switch
{
    "worker" => StepWorker.Run(precision, threads),
    "epoch" => EpochBench.Run(int.Parse(Option("rows", "800")), int.Parse(Option("max-length", "256")), int.Parse(Option("batch", "16")), precision, threads),
    "epoch-one" => EpochBench.RunOne(int.Parse(Option("rows", "800")), int.Parse(Option("max-length", "256")), int.Parse(Option("batch", "16")), precision, threads, Option("padding", "grouped") == "fixed"),
    "epoch-peer" => EpochPeerBench.Run(int.Parse(Option("rows", "800")), int.Parse(Option("max-length", "256")), int.Parse(Option("batch", "16")), threads,
        int.Parse(Option("rounds", "3")), Option("batches", "bench/.epoch-peer/batches.bin"), Option("peer-fp32", ""), Option("peer-bf16", "")),
    "epoch-peer-one" => EpochPeerBench.RunOne(int.Parse(Option("rows", "800")), int.Parse(Option("max-length", "256")), int.Parse(Option("batch", "16")), precision, threads,
        Array.IndexOf(args, "--export") >= 0 ? Option("export", "") : null),
    "transform-peer" => TransformPeerBench.Run(int.Parse(Option("texts", "10000")), int.Parse(Option("rounds", "3")), threads),
    "accuracy" => AccuracyBench.Run(int.Parse(Option("rows", "600")), threads, int.Parse(Option("seeds", "5"))),
    "token" => TokenBench.Run(int.Parse(Option("rows", "1500")), int.Parse(Option("max-length", "128")), int.Parse(Option("batch", "16")), precision, threads, int.Parse(Option("rounds", "3"))),
    "multilabel" => MultiLabelBench.Run(int.Parse(Option("rows", "2000")), int.Parse(Option("max-length", "64")), int.Parse(Option("batch", "16")), precision, threads, int.Parse(Option("rounds", "4"))),
    "onnx" => OnnxBench.Run(int.Parse(Option("rows", "600")), threads, int.Parse(Option("rounds", "5"))),
    "onnx-token" => OnnxTokenBench.Run(int.Parse(Option("rows", "1500")), threads),
    "qa" => QuestionAnsweringBench.Run(int.Parse(Option("rows", "400")), int.Parse(Option("max-length", "384")), int.Parse(Option("batch", "16")), precision, threads, int.Parse(Option("rounds", "3"))),
    "family" => FamilyBench.Run(precision, threads, int.Parse(Option("batch", "16")), int.Parse(Option("length", "128")), int.Parse(Option("rounds", "5")), int.Parse(Option("steps", "3"))),
    "serve" => ServeBench.Run(int.Parse(Option("seconds", "20")), threads),
    "memory" => MemoryBench.Run(Option("cli", "bench/.cli/mlnet-tune"), int.Parse(Option("runs", "3")),
        args.Select((a, i) => (a, i)).Where(p => p.a == "--variant" && p.i + 1 < args.Length).Select(p => args[p.i + 1]).ToList(),
        Array.IndexOf(args, "--") is int rest and >= 0 ? args[(rest + 1)..] : []),
    "micro" => MicroBench.Run(threads, int.Parse(Option("batch", "16")), int.Parse(Option("length", "128"))),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: MLNetTuning.Bench worker|epoch [options]   (see bench/README.md)");
    return 2;
}
