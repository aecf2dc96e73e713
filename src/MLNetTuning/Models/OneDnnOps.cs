using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Models;

/// <summary>
/// libtorch's oneDNN operators for inference on prepared weights, which TorchSharp does not bind: a weight reordered once
/// into the blocked layout oneDNN's 1×1 convolution wants (<c>mkldnn::_reorder_convolution_weight</c>), the serialized
/// layout of such a weight (<c>mkldnn::_get_mkldnn_serialized_md</c>), and the convolution on it with the activation
/// fused (<c>mkldnn::_convolution_pointwise</c>, what PyTorch's inductor uses for frozen CPU models). TorchSharp reaches
/// them only through TorchScript, so they are a small TorchScript module, written here as the archive
/// <c>torch.jit.save</c> writes and loaded once with <c>torch.jit.load</c>.
/// </summary>
/// <remarks>
/// libtorch ends the process (it does not throw) when a TorchScript module names an operator it lacks, so the module is
/// loaded only with the TorchSharp release this library is tested against (its libtorch builds oneDNN on x64), and
/// <c>MLNETTUNING_PREPACKED_WEIGHTS=0</c> turns it off.
/// </remarks>
internal static class OneDnnOps
{
    /// <summary>The TorchSharp release whose libtorch the tests run these operators on.</summary>
    private const string TestedTorchSharp = "0.107";

    /// <summary>
    /// The module's code as TorchScript serializes it (PyTorch 2.6's <c>torch.jit.save</c> of a scripted module wrote the
    /// same forms). A 1×1 convolution with padding 0, stride 1, dilation 1 and one group, over [1, in, tokens, 1]
    /// channels-last images, is the linear layer; the packed weight is laid out for <c>tokens</c> rows.
    /// </summary>
    private const string Code = """
        class Prepacked(Module):
          __parameters__ = []
          __buffers__ = []
          training : bool
          _is_full_backward_hook : Optional[bool]
          def forward(self: __torch__.Prepacked,
            x: Tensor) -> Tensor:
            return x
          def pack(self: __torch__.Prepacked,
            w: Tensor,
            tokens: int) -> Tensor:
            _0 = ops.mkldnn._reorder_convolution_weight(w, [0, 0], [1, 1], [1, 1], 1, [1, torch.size(w, 1), tokens, 1])
            return _0
          def layout(self: __torch__.Prepacked,
            w: Tensor) -> Tensor:
            return ops.mkldnn._get_mkldnn_serialized_md(w)
          def conv_none(self: __torch__.Prepacked,
            x: Tensor,
            w: Tensor,
            b: Tensor) -> Tensor:
            _1 = annotate(List[Optional[number]], [])
            return ops.mkldnn._convolution_pointwise(x, w, b, [0, 0], [1, 1], [1, 1], 1, "none", _1, None)
          def conv_gelu(self: __torch__.Prepacked,
            x: Tensor,
            w: Tensor,
            b: Tensor) -> Tensor:
            _2 = annotate(List[Optional[number]], [])
            return ops.mkldnn._convolution_pointwise(x, w, b, [0, 0], [1, 1], [1, 1], 1, "gelu", _2, "none")
          def conv_gelu_tanh(self: __torch__.Prepacked,
            x: Tensor,
            w: Tensor,
            b: Tensor) -> Tensor:
            _3 = annotate(List[Optional[number]], [])
            return ops.mkldnn._convolution_pointwise(x, w, b, [0, 0], [1, 1], [1, 1], 1, "gelu", _3, "tanh")
          def conv_relu(self: __torch__.Prepacked,
            x: Tensor,
            w: Tensor,
            b: Tensor) -> Tensor:
            _4 = annotate(List[Optional[number]], [])
            return ops.mkldnn._convolution_pointwise(x, w, b, [0, 0], [1, 1], [1, 1], 1, "relu", _4, None)

        """;

    private static readonly Lazy<jit.ScriptModule?> Module = new(Load);

    /// <summary>Whether the operators can be used in this process (see the remarks).</summary>
    public static bool Available => Module.Value is not null;

    /// <summary><paramref name="weight"/> [out, in] reordered into oneDNN's layout for a convolution over <paramref name="tokens"/> rows.</summary>
    public static Tensor Pack(Tensor weight, long tokens) =>
        Required.invoke<Tensor>("pack", weight.view(weight.shape[0], weight.shape[1], 1, 1), tokens);

    /// <summary>
    /// A key that is equal for two packed weights exactly when oneDNN laid them out alike: the SHA-256 of the serialized
    /// memory descriptor (about 770 bytes), short enough to remember for every row count a layer sees.
    /// </summary>
    public static string LayoutKey(Tensor packed)
    {
        using var layout = Required.invoke<Tensor>("layout", packed);
        return Convert.ToHexString(SHA256.HashData(layout.data<byte>().ToArray()));
    }

    /// <summary>
    /// [tokens, in] → [tokens, out]: x·Wᵀ + b on a <see cref="Pack"/>ed weight, then <paramref name="activation"/>
    /// ("gelu", "gelu_tanh", "relu" or null), in the weight's type.
    /// </summary>
    public static Tensor Linear(Tensor input, Tensor packed, Tensor bias, string? activation)
    {
        using var scope = NewDisposeScope();
        long tokens = input.shape[0], features = input.shape[1];
        var image = LinearKernel.AsImage(input, tokens, features);
        string method = activation switch
        {
            null => "conv_none",
            "gelu" => "conv_gelu",
            "gelu_tanh" => "conv_gelu_tanh",
            "relu" => "conv_relu",
            _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Not a fused activation."),
        };
        var output = Required.invoke<Tensor>(method, image, packed, bias);
        return output.permute(0, 2, 3, 1).reshape(tokens, bias.shape[0]).MoveToOuterDisposeScope();
    }

    private static jit.ScriptModule Required => Module.Value ?? throw new InvalidOperationException("libtorch's oneDNN operators are not available in this process.");

    private static jit.ScriptModule? Load()
    {
        if (!Allowed(Environment.GetEnvironmentVariable("MLNETTUNING_PREPACKED_WEIGHTS"), RuntimeInformation.ProcessArchitecture,
                OperatingSystem.IsLinux() || OperatingSystem.IsWindows(), typeof(Tensor).Assembly.GetName().Version))
            return null;
        try
        {
            var module = jit.load(Archive());
            module.eval();
            return module;
        }
        catch (Exception e) when (e is ExternalException or InvalidOperationException or ArgumentException)
        {
            // Scoring stays correct on the ordinary kernels; only the prepared-weights speed-up is lost.
            return null;
        }
    }

    /// <summary>
    /// Whether loading the module is safe and wanted: not switched off, on x64 Linux or Windows (libtorch builds oneDNN
    /// there), with the TorchSharp release whose libtorch the tests run these operators on.
    /// </summary>
    internal static bool Allowed(string? switchValue, Architecture architecture, bool linuxOrWindows, Version? torchSharp) =>
        switchValue != "0" && architecture == Architecture.X64 && linuxOrWindows
        && torchSharp is not null && $"{torchSharp.Major}.{torchSharp.Minor}" == TestedTorchSharp;

    /// <summary>The module as <c>torch.jit.save</c> lays it out: a zip of stored entries under one folder.</summary>
    private static byte[] Archive()
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] content)
            {
                var entry = zip.CreateEntry("prepacked/" + name, CompressionLevel.NoCompression);
                using var stream = entry.Open();
                stream.Write(content);
            }
            // The root object, a __torch__.Prepacked with its two attributes, in pickle protocol 2 as TorchScript writes it:
            // PROTO 2, GLOBAL, BINPUT, EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, MARK, (key, BINPUT, value)..., SETITEMS, BUILD, BINPUT, STOP.
            Add("data.pkl", [
                0x80, 0x02, 0x63, .. "__torch__\nPrepacked\n"u8, 0x71, 0x00, 0x29, 0x81, 0x7D, 0x28,
                .. Pickled("training"), 0x71, 0x01, 0x88,
                .. Pickled("_is_full_backward_hook"), 0x71, 0x02, 0x4E,
                0x75, 0x62, 0x71, 0x03, 0x2E]);
            Add("code/__torch__.py", Encoding.UTF8.GetBytes(Code.Replace("\r\n", "\n")));
            Add("constants.pkl", [0x80, 0x02, 0x29, 0x2E]);   // an empty tuple
            Add("version", "3\n"u8.ToArray());
            Add("byteorder", "little"u8.ToArray());
        }
        return buffer.ToArray();
    }

    /// <summary>A pickle BINUNICODE opcode: 'X', the UTF-8 length (4 bytes, little-endian), the bytes.</summary>
    private static byte[] Pickled(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return [0x58, .. BitConverter.GetBytes(bytes.Length), .. bytes];
    }
}
