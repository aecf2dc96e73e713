using static TorchSharp.torch;
MLNetTuning.Native.TorchNativeLoader.EnsureLoaded();
var a = randn(3, 4);
Console.WriteLine(a.matmul(a.t()).sum().item<float>());
Console.WriteLine(MLNetTuning.Native.TorchNativeLoader.PatchedLibraryPath);
