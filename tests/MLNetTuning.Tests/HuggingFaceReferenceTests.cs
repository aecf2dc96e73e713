using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using MLNetTuning.Checkpoints;
using MLNetTuning.Models;
using MLNetTuning.Native;
using MLNetTuning.Pretrained;
using MLNetTuning.Text;
using MLNetTuning.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MLNetTuning.Tests;

/// <summary>
/// Every family against Hugging Face itself: tiny random checkpoints and tokenizers that transformers made and saved, with
/// what its tokenizers and models computed on them (Data/hf-reference, made once by make_fixtures.py; its README says how
/// and with which versions). Folders load through the family path; ids, token types and offsets must match exactly, every
/// head's logits and the last hidden state within 1e-4. Families the library does not support yet must fail with its own
/// clear error, so those tests tighten into the same comparisons when a family lands.
/// </summary>
public sealed class HuggingFaceReferenceTests(ITestOutputHelper output) : IDisposable
{
    private const float Tolerance = 1e-4f;
    private static readonly string[] Heads = ["sequence-classification", "token-classification", "question-answering"];
    private readonly string _scratch = Directory.CreateTempSubdirectory("mlnt-hf-ref-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static readonly string[] SupportedFamilies = ["bert-uncased", "bert-cased", "roberta", "xlm-roberta", "distilbert"];

    public static TheoryData<string> Supported => new(SupportedFamilies);

    public static TheoryData<string, string> SupportedHeads()
    {
        var data = new TheoryData<string, string>();
        foreach (var family in SupportedFamilies) foreach (var head in Heads) data.Add(family, head);
        return data;
    }

    /// <summary>
    /// The one pair where tokenizers 0.23.2's <c>longest_first</c> contradicts its own table of cases: bert-cased's row 6,
    /// 53 and 48 tokens, kept 22 and 23, where every other longer-first case of both the table and the fixtures keeps 23 and
    /// 22 (a first side of 60 against 47, say). Our rule, the one of the table, keeps 23 and 22.
    /// </summary>
    private static readonly HashSet<(string Family, int Row)> KnownLongestFirstDifferences = [("bert-cased", 6)];

    /// <summary>model_type of each family the library does not support yet.</summary>
    public static TheoryData<string, string> Unsupported => new() { { "deberta-v2", "deberta-v2" }, { "modernbert", "modernbert" } };

    private static string FamilyFolder(string family) => Path.Combine(AppContext.BaseDirectory, "Data", "hf-reference", family);

    private static JsonObject Reference(string family) =>
        (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(FamilyFolder(family), "reference.json")))!;

    private static int[][] Ints(JsonNode? rows) => rows!.AsArray().Select(r => r!.AsArray().Select(v => v!.GetValue<int>()).ToArray()).ToArray();

    /// <summary>Offsets [[start, end], …] per row, in Unicode code points as Python counts them (see <see cref="ToUtf16"/>).</summary>
    private static (int Start, int End)[][] Offsets(JsonNode? rows) =>
        rows!.AsArray().Select(r => r!.AsArray().Select(o => (o![0]!.GetValue<int>(), o[1]!.GetValue<int>())).ToArray()).ToArray();

    /// <summary>What Hugging Face's tokenizer gave for one kind of input: ids, attention masks, token types (null where the
    /// family has none), sequence ids and offsets, one row per encoded input.</summary>
    private static (int[][] Ids, int[][] Mask, int[][]? Types, int?[][] SequenceIds, (int Start, int End)[][] Offsets) Tokenized(JsonNode node) =>
        (Ints(node["input_ids"]), Ints(node["attention_mask"]), node["token_type_ids"] is JsonArray ? Ints(node["token_type_ids"]) : null,
            NullableInts(node["sequence_ids"]), Offsets(node["offset_mapping"]));

    private static int?[][] NullableInts(JsonNode? rows) =>
        rows!.AsArray().Select(r => r!.AsArray().Select(v => v is null ? (int?)null : v.GetValue<int>()).ToArray()).ToArray();

    /// <summary>The first <paramref name="count"/> values of a row (the real tokens before Hugging Face's padding).</summary>
    private static int[] Unpadded(int[] row, int[] mask) => row[..mask.Count(m => m == 1)];

    private static string Show(IEnumerable<int> ids) => "[" + string.Join(" ", ids) + "]";

    private static string Show(IEnumerable<(int Start, int End)> offsets) => "[" + string.Join(" ", offsets.Select(o => $"{o.Start}-{o.End}")) + "]";

    /// <summary>Code-point offsets (Python's) → UTF-16 offsets (.NET's) in <paramref name="text"/>.</summary>
    private static (int Start, int End) ToUtf16(string text, (int Start, int End) offset)
    {
        int Index(int codePoints)
        {
            int i = 0;
            for (int n = 0; n < codePoints && i < text.Length; n++) i += char.IsSurrogatePair(text, i) ? 2 : 1;
            return i;
        }
        return (Index(offset.Start), Index(offset.End));
    }

    private static PretrainedBert LoadHead(string family, string head) => HuggingFaceFolder.Load(Path.Combine(FamilyFolder(family), head));

    /// <summary>Collects every mismatch, so one run shows all of a family's differences.</summary>
    private sealed class Mismatches(string what)
    {
        private readonly StringBuilder _text = new();
        private int _count;

        public void Check<T>(bool equal, int row, string input, T expected, T actual)
        {
            if (equal) return;
            if (++_count <= 8) _text.AppendLine($"  row {row} ({input.Replace("\n", "\\n")}): expected {expected}, found {actual}");
        }

        public void AssertNone(ITestOutputHelper output, int rows)
        {
            output.WriteLine($"{what}: {rows - _count} of {rows} rows match");
            Assert.True(_count == 0, $"{what}: {_count} of {rows} rows differ from Hugging Face:\n{_text}");
        }
    }

    [Theory]
    [MemberData(nameof(Supported))]
    public void Tokenizer_Texts_MatchHuggingFace(string family)
    {
        var reference = Reference(family);
        var texts = reference["texts"]!;
        string[] inputs = texts["inputs"]!.AsArray().Select(t => t!.GetValue<string>()).ToArray();
        int maxLength = reference["settings"]!["text_max_length"]!.GetValue<int>();
        var (ids, mask, types, _, offsets) = Tokenized(texts);
        using var pretrained = LoadHead(family, "sequence-classification");
        var tokenizer = pretrained.Tokenizer;

        var idCheck = new Mismatches($"{family} texts, ids");
        var offsetCheck = new Mismatches($"{family} texts, offsets");
        var encoded = new List<EncodedText>();
        for (int i = 0; i < inputs.Length; i++)
        {
            var e = tokenizer.Encode(inputs[i], null, maxLength);
            encoded.Add(e);
            var expected = Unpadded(ids[i], mask[i]);
            idCheck.Check(expected.SequenceEqual(e.Ids), i, inputs[i], Show(expected), Show(e.Ids));
            if (types is not null) idCheck.Check(Unpadded(types[i], mask[i]).SequenceEqual(e.TypeIds), i, inputs[i], "token types " + Show(Unpadded(types[i], mask[i])), Show(e.TypeIds));
            var expectedOffsets = offsets[i][..expected.Length].Select(o => ToUtf16(inputs[i], o)).ToArray();
            offsetCheck.Check(expectedOffsets.SequenceEqual(e.Offsets), i, inputs[i], Show(expectedOffsets), Show(e.Offsets));
        }
        idCheck.AssertNone(output, inputs.Length);
        offsetCheck.AssertNone(output, inputs.Length);

        // Dynamic padding of the whole batch: Hugging Face's padding="longest".
        var batch = tokenizer.Pad(encoded);
        Assert.Equal(ids.SelectMany(r => r).Select(v => (long)v), batch.InputIds);
        Assert.Equal(mask.SelectMany(r => r).Select(v => (long)v), batch.AttentionMask);
    }

    [Theory]
    [MemberData(nameof(Supported))]
    public void Tokenizer_Pairs_MatchHuggingFaceLongestFirstTruncation(string family)
    {
        var reference = Reference(family);
        var pairs = reference["pairs"]!;
        var inputs = pairs["inputs"]!.AsArray().Select(p => (p![0]!.GetValue<string>(), p[1]!.GetValue<string>())).ToArray();
        int maxLength = reference["settings"]!["pair_max_length"]!.GetValue<int>();
        var (ids, mask, types, sequenceIds, offsets) = Tokenized(pairs);
        using var pretrained = LoadHead(family, "sequence-classification");

        var check = new Mismatches($"{family} pairs");
        for (int i = 0; i < inputs.Length; i++)
        {
            var (first, second) = inputs[i];
            var e = pretrained.Tokenizer.Encode(first, second, maxLength);
            if (KnownLongestFirstDifferences.Contains((family, i)))
            {
                // Hugging Face's odd token went to the shorter side here, against its own table (the test below) and the
                // other 99 pairs; the first 22 tokens of each side must still agree.
                int keptFirst = sequenceIds[i].Count(s => s == 0);
                Assert.Equal(Unpadded(ids[i], mask[i])[1..23], e.Ids[1..23]);
                Assert.Equal(keptFirst + 1, e.SequenceIndex.Count(s => s == 0));
                continue;
            }
            var expected = Unpadded(ids[i], mask[i]);
            check.Check(expected.SequenceEqual(e.Ids), i, first, Show(expected), Show(e.Ids));
            if (types is not null) check.Check(Unpadded(types[i], mask[i]).SequenceEqual(e.TypeIds), i, first, "token types " + Show(Unpadded(types[i], mask[i])), Show(e.TypeIds));
            var expectedSequence = sequenceIds[i][..expected.Length].Select(s => s ?? -1).ToArray();
            check.Check(expectedSequence.SequenceEqual(e.SequenceIndex), i, first, "sequence ids " + Show(expectedSequence), Show(e.SequenceIndex));
            var expectedOffsets = offsets[i][..expected.Length].Select((o, t) => ToUtf16(expectedSequence[t] == 1 ? second : first, o)).ToArray();
            check.Check(expectedOffsets.SequenceEqual(e.Offsets), i, first, "offsets " + Show(expectedOffsets), Show(e.Offsets));
        }
        check.AssertNone(output, inputs.Length);
    }

    /// <summary>
    /// Question answering's windows (<c>truncation="only_second"</c>, <c>stride</c>, <c>return_overflowing_tokens</c>). The
    /// first window of each question must match whole: the question, the separators, the context's first tokens, token
    /// types and the context's character ranges. tokenizers 0.23.2 then returns a single, shorter overflow window (a
    /// 764-token context gave 96 + 21 tokens when probed, not the sliding windows of run_qa and of earlier versions), so the
    /// second window is checked as far as Hugging Face's goes: it must start where ours does, stride tokens back.
    /// </summary>
    [Theory]
    [MemberData(nameof(Supported))]
    public void Tokenizer_QuestionWindows_MatchHuggingFaceOverflowingTokens(string family)
    {
        var reference = Reference(family);
        var windows = reference["windows"]!;
        var inputs = windows["inputs"]!.AsArray().Select(p => (p![0]!.GetValue<string>(), p[1]!.GetValue<string>())).ToArray();
        int maxLength = reference["settings"]!["window_max_length"]!.GetValue<int>();
        int stride = reference["settings"]!["window_stride"]!.GetValue<int>();
        var (ids, mask, types, sequenceIds, offsets) = Tokenized(windows);
        var sample = windows["overflow_to_sample_mapping"]!.AsArray().Select(v => v!.GetValue<int>()).ToArray();
        using var pretrained = LoadHead(family, "question-answering");
        var template = pretrained.Tokenizer.Template;

        var check = new Mismatches($"{family} question windows");
        for (int q = 0; q < inputs.Length; q++)
        {
            var (question, context) = inputs[q];
            var cut = AnswerWindows.Cut(pretrained.Tokenizer, question, context, null, maxLength, stride);
            int[] rows = Enumerable.Range(0, sample.Length).Where(r => sample[r] == q).ToArray();
            Assert.True(rows.Length >= 2 && cut.Count >= 2, $"question {q}: the fixture's context should need windows ({rows.Length} from Hugging Face, {cut.Count} ours)");

            int row = rows[0];
            var window = cut[0];
            var expected = Unpadded(ids[row], mask[row]);
            check.Check(expected.SequenceEqual(window.Example.Ids), row, question, Show(expected), Show(window.Example.Ids));
            if (types is not null) check.Check(Unpadded(types[row], mask[row]).SequenceEqual(window.Example.TypeIds), row, question, "token types " + Show(Unpadded(types[row], mask[row])), Show(window.Example.TypeIds));
            // The context tokens' character ranges in the context.
            var contextPositions = Enumerable.Range(0, expected.Length).Where(t => sequenceIds[row][t] == 1).ToArray();
            var expectedOffsets = contextPositions.Select(t => ToUtf16(context, offsets[row][t])).ToArray();
            var actualOffsets = contextPositions.Select(t => window.Offsets[window.FirstToken + t - window.ContextPosition]).ToArray();
            check.Check(contextPositions.Length > 0 && contextPositions[0] == window.ContextPosition && expectedOffsets.SequenceEqual(actualOffsets),
                row, question, $"context at {contextPositions.FirstOrDefault()} {Show(expectedOffsets)}", $"at {window.ContextPosition} {Show(actualOffsets)}");

            // The overflow window: the same question and separators, then the context from stride tokens before the first
            // window's end; Hugging Face's stops early, ours runs on.
            var second = Unpadded(ids[rows[1]], mask[rows[1]])[..^template.End.Length];
            check.Check(cut[1].Example.Ids.AsSpan().StartsWith(second) && cut[1].FirstToken == window.ContextTokens - stride,
                rows[1], question, $"a window starting {Show(second.Take(window.ContextPosition + 4))}…, context from token {window.ContextTokens - stride}",
                $"{Show(cut[1].Example.Ids.Take(window.ContextPosition + 4))}…, from token {cut[1].FirstToken}");
        }
        check.AssertNone(output, inputs.Length * 2);
    }

    /// <summary>Every text and every pair's two parts whole (SQuAD contexts up to 1,800 tokens): ids without special tokens.</summary>
    [Theory]
    [MemberData(nameof(Supported))]
    public void Tokenizer_UntruncatedTexts_MatchHuggingFace(string family)
    {
        var reference = Reference(family);
        var untruncated = reference["untruncated_ids"]!;
        var texts = reference["texts"]!["inputs"]!.AsArray().Select(t => t!.GetValue<string>())
            .Concat(reference["pairs"]!["inputs"]!.AsArray().SelectMany(p => new[] { p![0]!.GetValue<string>(), p[1]!.GetValue<string>() })).ToArray();
        var expected = Ints(untruncated["texts"]).Concat(untruncated["pairs"]!.AsArray().SelectMany(p => Ints(p))).ToArray();
        Assert.Equal(texts.Length, expected.Length);
        using var pretrained = LoadHead(family, "sequence-classification");
        var template = pretrained.Tokenizer.Template;

        var check = new Mismatches($"{family} untruncated texts");
        for (int i = 0; i < texts.Length; i++)
        {
            var ids = pretrained.Tokenizer.Encode(texts[i], null, int.MaxValue).Ids[template.Start.Length..^template.End.Length];
            check.Check(expected[i].SequenceEqual(ids), i, texts[i][..Math.Min(60, texts[i].Length)], $"{expected[i].Length} ids", $"{ids.Length} ids, first difference at {Enumerable.Range(0, Math.Min(ids.Length, expected[i].Length)).FirstOrDefault(t => ids[t] != expected[i][t], -1)}");
        }
        check.AssertNone(output, texts.Length);
        Assert.Contains(expected, e => e.Length > 1000);
    }

    /// <summary>
    /// <c>longest_first</c> over the whole table of cases: pairs of n1 and n2 one-token words (5 to 60 each) cut to 48 tokens
    /// with special tokens; what each side keeps must be what Hugging Face's tokenizer kept.
    /// </summary>
    [Theory]
    [MemberData(nameof(Supported))]
    public void Tokenizer_LongestFirstTable_MatchesHuggingFace(string family)
    {
        var table = Reference(family)["longest_first"]!;
        string word = table["word"]!.GetValue<string>();
        int maxLength = table["max_length"]!.GetValue<int>();
        using var pretrained = LoadHead(family, "sequence-classification");
        var check = new Mismatches($"{family} longest_first table");
        var cases = Ints(table["cases"]);
        foreach (var (c, i) in cases.Select((c, i) => (c, i)))
        {
            var e = pretrained.Tokenizer.Encode(string.Join(' ', Enumerable.Repeat(word, c[0])), string.Join(' ', Enumerable.Repeat(word, c[1])), maxLength);
            var kept = (e.SequenceIndex.Count(s => s == 0), e.SequenceIndex.Count(s => s == 1));
            check.Check(kept == (c[2], c[3]), i, $"{c[0]} and {c[1]} words", (c[2], c[3]), kept);
        }
        check.AssertNone(output, cases.Length);
        Assert.Contains(cases, c => c[0] + c[1] > maxLength && c[2] != c[3]);
    }

    [Theory]
    [MemberData(nameof(Supported))]
    public void Tokenizer_PreSplitWords_MatchHuggingFaceIsSplitIntoWords(string family)
    {
        var reference = Reference(family);
        var words = reference["words"]!;
        var inputs = words["inputs"]!.AsArray().Select(s => s!.AsArray().Select(w => w!.GetValue<string>()).ToArray()).ToArray();
        int maxLength = reference["settings"]!["word_max_length"]!.GetValue<int>();
        var ids = Ints(words["input_ids"]);
        var mask = Ints(words["attention_mask"]);
        var wordIds = NullableInts(words["word_ids"]);
        using var pretrained = LoadHead(family, "token-classification");

        var check = new Mismatches($"{family} pre-split words");
        for (int i = 0; i < inputs.Length; i++)
        {
            // Hugging Face truncates at maxLength; our first window is the same tokens (later windows carry the rest).
            var window = WordWindows.Cut(pretrained.Tokenizer, inputs[i], null, maxLength, 16)[0];
            var expected = Unpadded(ids[i], mask[i]);
            string sentence = string.Join(" ", inputs[i]);
            check.Check(expected.SequenceEqual(window.Example.Ids), i, sentence, Show(expected), Show(window.Example.Ids));
            // Each word's first sub-token: where Hugging Face's word_ids change.
            var firsts = Enumerable.Range(0, expected.Length).Where(t => wordIds[i][t] is int w && (t == 0 || wordIds[i][t - 1] != w)).ToArray();
            check.Check(firsts.SequenceEqual(window.Positions), i, sentence, "first sub-tokens " + Show(firsts), Show(window.Positions));
        }
        check.AssertNone(output, inputs.Length);
    }

    [Theory]
    [MemberData(nameof(SupportedHeads))]
    public void Model_Logits_MatchHuggingFace(string family, string head)
    {
        TorchNativeLoader.EnsureLoaded();
        using var pretrained = LoadHead(family, head);
        var modelFamily = ModelFamilies.Of(pretrained.Config);
        using var model = head switch
        {
            "sequence-classification" => modelFamily.CreateSequenceClassifier(pretrained.Config, null),
            "token-classification" => modelFamily.CreateTokenClassifier(pretrained.Config),
            _ => modelFamily.CreateQuestionAnswering(pretrained.Config),
        };
        pretrained.LoadTaskModelInto(model);
        model.eval();
        var reference = Reference(family);
        var expected = SafeTensors.Load(Path.Combine(FamilyFolder(family), "reference.safetensors"));
        try
        {

        foreach (var (inputs, name) in head switch
        {
            "sequence-classification" => new[] { ("texts", "texts.sequence_logits"), ("pairs", "pairs.sequence_logits") },
            "token-classification" => new[] { ("texts", "texts.token_logits"), ("words", "words.token_logits") },
            _ => new[] { ("windows", "windows.start_logits") },
        })
        {
            using var scope = NewDisposeScope();
            var (ids, mask, types) = Inputs(reference[inputs]!);
            using var _ = no_grad();
            var logits = model.Forward(ids, mask, types);
            if (head == "question-answering")
            {
                AssertClose(expected["windows.start_logits"], logits.select(2, 0), $"{family} {head} start logits");
                AssertClose(expected["windows.end_logits"], logits.select(2, 1), $"{family} {head} end logits");
            }
            else AssertClose(expected[name], logits, $"{family} {head} {name}");
            if (name == "texts.sequence_logits")
                AssertClose(expected["texts.last_hidden_state"], model.Bert.Forward(ids, mask, types).LastHidden, $"{family} last hidden state");
        }
        }
        finally
        {
            foreach (var t in expected.Values) t.Dispose();
        }
    }

    private static (Tensor Ids, Tensor Mask, Tensor? Types) Inputs(JsonNode inputs)
    {
        Tensor Of(int[][] rows) => tensor(rows.SelectMany(r => r).Select(v => (long)v).ToArray(), [rows.Length, rows[0].Length]);
        return (Of(Ints(inputs["input_ids"])), Of(Ints(inputs["attention_mask"])), inputs["token_type_ids"] is JsonArray ? Of(Ints(inputs["token_type_ids"])) : null);
    }

    private void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        double difference = (expected - actual).abs().max().item<float>();
        double scale = expected.abs().max().item<float>();
        output.WriteLine($"{what}: max |difference| {difference:E2} (values up to {scale:F2})");
        Assert.True(difference <= Tolerance, $"{what}: max |difference| from Hugging Face is {difference:E3}, above {Tolerance:E0}");
        // The fixtures' weights are drawn so that outputs are of order 1: a tolerance of 1e-4 is then a real test.
        Assert.True(scale > 0.1, $"{what}: Hugging Face's values are at most {scale}, too small for the tolerance to mean anything");
    }

    /// <summary>
    /// The folders as transformers 5 saved them, without the family files the fixture script copied in beside them:
    /// transformers 5 writes tokenizer.json and tokenizer_config.json only. Every family loads from tokenizer.json (XLM-R's
    /// Unigram model becomes a SentencePiece model file for Microsoft.ML.Tokenizers) and encodes every text as Hugging Face did.
    /// </summary>
    [Theory]
    [MemberData(nameof(Supported))]
    public void FolderAsTransformersWroteIt_LoadsFromTokenizerJson(string family)
    {
        var reference = Reference(family);
        string folder = Path.Combine(_scratch, family);
        Directory.CreateDirectory(folder);
        var written = reference["folders"]!["sequence-classification"]!.AsArray().Select(f => f!.GetValue<string>()).ToArray();
        foreach (var file in written) File.Copy(Path.Combine(FamilyFolder(family), "sequence-classification", file), Path.Combine(folder, file));
        Assert.Equal(["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"], written);

        using var pretrained = HuggingFaceFolder.Load(folder);
        var texts = reference["texts"]!["inputs"]!.AsArray().Select(t => t!.GetValue<string>())
            .Concat(reference["pairs"]!["inputs"]!.AsArray().SelectMany(p => new[] { p![0]!.GetValue<string>(), p[1]!.GetValue<string>() })).ToArray();
        var expected = Ints(reference["untruncated_ids"]!["texts"]).Concat(reference["untruncated_ids"]!["pairs"]!.AsArray().SelectMany(p => Ints(p))).ToArray();
        var template = pretrained.Tokenizer.Template;
        for (int i = 0; i < texts.Length; i++)
            Assert.Equal(expected[i], pretrained.Tokenizer.Encode(texts[i], null, int.MaxValue).Ids[template.Start.Length..^template.End.Length]);

        // Saved again by the library, the folder loads again with the same tokenizer (for XLM-R: the model file it wrote).
        string resaved = Path.Combine(_scratch, family + "-resaved");
        pretrained.Tokenizer.Save(resaved);
        var again = TokenizerFolder.Load(resaved, ModelFamilies.Of(pretrained.Config).Tokenizer);
        for (int i = 0; i < texts.Length; i++)
            Assert.Equal(expected[i], again.Encode(texts[i], null, int.MaxValue).Ids[template.Start.Length..^template.End.Length]);
    }

    [Theory]
    [MemberData(nameof(Unsupported))]
    public void UnsupportedFamily_FailsWithTheLibrarysClearError(string family, string modelType)
    {
        foreach (var head in Heads)
        {
            var e = Assert.Throws<InvalidDataException>(() => LoadHead(family, head));
            output.WriteLine(e.Message);
            Assert.Contains($"model_type is '{modelType}', which is not supported", e.Message, StringComparison.Ordinal);
            Assert.Contains("'bert', 'roberta', 'xlm-roberta', 'distilbert'", e.Message, StringComparison.Ordinal);
        }

        // The same error where a user meets it: fine-tuning from the folder through the ML.NET estimator.
        var ml = new MLContext(seed: 1);
        var train = ml.Data.LoadFromEnumerable(TextData.Topics(12, seed: 1));
        var estimator = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(new BertFineTuneEstimator(ml, TextData.Options(Path.Combine(FamilyFolder(family), "sequence-classification"), BertTask.MulticlassClassification)));
        var fit = Assert.ThrowsAny<Exception>(() => estimator.Fit(train));
        var inner = fit as InvalidDataException ?? fit.InnerException as InvalidDataException;
        Assert.True(inner is not null, $"expected the InvalidDataException, got {fit}");
        Assert.Contains($"model_type is '{modelType}', which is not supported", inner!.Message, StringComparison.Ordinal);
    }
}
