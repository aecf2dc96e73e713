using MLNetTuning.IO;
using MLNetTuning.Models;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using static TorchSharp.torch;

namespace MLNetTuning.Checkpoints;

/// <summary>Reads and writes a Hugging Face model folder: config.json, safetensors weights and the tokenizer files.</summary>
internal static class HuggingFaceFolder
{
    public const string ConfigFile = "config.json";

    /// <summary>Loads a folder as <c>from_pretrained</c> lays it out; weights come back as float32 with their checkpoint names.</summary>
    /// <exception cref="InvalidDataException">A file is missing or invalid; the message names the folder and file.</exception>
    public static PretrainedBert Load(string folder)
    {
        folder = Path.GetFullPath(folder);
        string configPath = Path.Combine(folder, ConfigFile);
        if (!File.Exists(configPath))
            throw new InvalidDataException($"The model folder '{folder}' has no {ConfigFile}. A Hugging Face model folder holds config.json, model.safetensors (or its shards) and the tokenizer files (vocab.txt, vocab.json with merges.txt, sentencepiece.bpe.model, or tokenizer.json, as the family uses).");
        var config = BertConfig.FromFile(configPath);
        var tokenizer = TokenizerFolder.Load(folder, ModelFamilies.Of(config).Tokenizer);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new InvalidDataException($"The tokenizer in '{folder}' has {tokenizer.VocabSize} tokens, but {configPath} says vocab_size {config.VocabSize}: ids beyond the embedding table would fail.");
        var weights = SafeTensors.LoadFolderWeights(folder, ScalarType.Float32);
        try
        {
            // Before any module is built from config.json's sizes: the weights are bounded by the file, the config is not.
            ConfigShapeCheck.Check(config, weights.ToDictionary(p => p.Key, p => p.Value.shape, StringComparer.Ordinal), configPath, folder);
        }
        catch
        {
            foreach (var tensor in weights.Values) tensor.Dispose();
            throw;
        }
        return new PretrainedBert(config, weights, tokenizer, folder);
    }

    /// <summary>
    /// Writes <paramref name="stateDict"/> (Hugging Face names), the config and the tokenizer so that both this library and
    /// Python's <c>from_pretrained</c> load them. The folder is written beside the target and swapped in whole
    /// (<see cref="AtomicFolder"/>), so a failure leaves any earlier folder as it was.
    /// </summary>
    public static void Save(string folder, BertConfig config, IEnumerable<KeyValuePair<string, Tensor>> stateDict, ITextTokenizer tokenizer,
        ScalarType? floatDType = null)
    {
        AtomicFolder.Write(folder, staging =>
        {
            var json = config.ToJson();
            json["torch_dtype"] = (floatDType ?? ScalarType.Float32) switch { ScalarType.Float16 => "float16", ScalarType.BFloat16 => "bfloat16", _ => "float32" };
            File.WriteAllText(Path.Combine(staging, ConfigFile), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            SafeTensors.SaveFolderWeights(staging, stateDict.ToDictionary(kv => kv.Key, kv => kv.Value), floatDType);
            tokenizer.Save(staging);
        });
    }
}
