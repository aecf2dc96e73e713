using MLNetTuning.Native;
using static TorchSharp.torch;

// Nothing else in this process has touched torch: this is the first load, exactly as an application's.
TorchNativeLoader.EnsureLoaded();
using var a = tensor(new float[,] { { 1, 2 }, { 3, 4 } });
using var b = tensor(new float[,] { { 5, 6 }, { 7, 8 } });
using var product = a.matmul(b);
Console.WriteLine("matmul: " + string.Join(" ", product.data<float>().ToArray()));
Console.WriteLine("patched: " + TorchNativeLoader.PatchedLibraryPath);
