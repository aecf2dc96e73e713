using MLNetTuning.Tagging;

namespace MLNetTuning.Tests.Tagging;

/// <summary>
/// Counting and scoring entities over many sentences. The random cases are checked against counts that seqeval 1.2's default
/// mode gave on the same sequences, and, for the BIO and EIO cases, that CoNLL's conlleval.pl gave too (identical).
/// </summary>
public sealed class EntityCounterTests
{
    private static readonly string[] Types = ["PER", "MISC", "ORG", "LOC"];

    public static TheoryData<ulong, string, int, int, int, int, string> RandomCases => new()
    {
        // seed, position letters, labelled, predicted, correct entities, correct tokens (of 2,000), then per type
        // "type labelled predicted correct".
        { 1, "BIO", 1271, 1214, 167, 344, "LOC 319 302 46; MISC 335 330 41; ORG 313 289 38; PER 304 293 42" },
        { 2, "EIO", 1229, 1241, 152, 316, "LOC 325 307 44; MISC 305 319 37; ORG 315 308 37; PER 284 307 34" },
        { 3, "BIO", 1206, 1222, 167, 337, "LOC 290 299 46; MISC 320 328 47; ORG 308 299 36; PER 288 296 38" },
        { 4, "BIOES", 1503, 1550, 243, 155, "LOC 376 381 57; MISC 381 396 65; ORG 377 384 64; PER 369 389 57" },
        { 5, "BIOES", 1530, 1532, 264, 154, "LOC 373 382 71; MISC 401 395 63; ORG 369 376 69; PER 387 379 61" },
    };

    [Theory]
    [MemberData(nameof(RandomCases))]
    public void RandomTags_MatchSeqevalAndConlleval(ulong seed, string letters, int labelled, int predicted, int correct, int correctTokens, string perType)
    {
        var counter = new EntityCounter();
        foreach (var (label, guess) in RandomSentences(seed, letters, tokens: 2000))
            counter.Add(label.Select(t => counter.Tag(t)!.Value).ToArray(), guess.Select(t => counter.Tag(t)!.Value).ToArray());

        var metrics = counter.ToMetrics();

        Assert.Equal((double)correct / predicted, metrics.Precision, 12);
        Assert.Equal((double)correct / labelled, metrics.Recall, 12);
        double p = (double)correct / predicted, r = (double)correct / labelled;
        Assert.Equal(2 * p * r / (p + r), metrics.F1, 12);
        Assert.Equal(correctTokens / 2000.0, metrics.TokenAccuracy, 12);
        foreach (var entry in perType.Split("; "))
        {
            var f = entry.Split(' ');
            var (type, l, g, c) = (f[0], int.Parse(f[1]), int.Parse(f[2]), int.Parse(f[3]));
            var m = metrics.PerEntityType[type];
            Assert.Equal(l, m.Support);
            Assert.Equal((double)c / g, m.Precision, 12);
            Assert.Equal((double)c / l, m.Recall, 12);
        }
        Assert.Equal(["LOC", "MISC", "ORG", "PER"], metrics.PerEntityType.Keys);
    }

    [Fact]
    public void EntitiesNeverCrossSentences()
    {
        // One sentence ends inside PER, the next starts with I-PER: two entities, as in seqeval, which puts an O between sentences.
        var counter = new EntityCounter();
        var (b, i, o) = (counter.Tag("B-PER")!.Value, counter.Tag("I-PER")!.Value, counter.Tag("O")!.Value);
        counter.Add([o, b], [o, b]);
        counter.Add([i, o], [o, o]);

        var metrics = counter.ToMetrics();

        Assert.Equal(2, metrics.PerEntityType["PER"].Support);
        Assert.Equal((1.0, 0.5), (metrics.Precision, metrics.Recall));
    }

    [Fact]
    public void TokenAccuracy_ComparesTagNames_NotOnlyPositionAndType()
    {
        // "B" and "B-_" are the same entity to seqeval but different tags.
        var counter = new EntityCounter();
        counter.Add([counter.Tag("B")!.Value], [counter.Tag("B-_")!.Value]);

        var metrics = counter.ToMetrics();

        Assert.Equal((1.0, 0.0), (metrics.F1, metrics.TokenAccuracy));
    }

    [Theory]
    [InlineData("NOUN")]
    [InlineData("PER-B")]
    [InlineData("B-")]
    [InlineData("X-PER")]
    [InlineData("")]
    public void Tag_ThatNamesNoEntity_IsNull(string name) => Assert.Null(new EntityCounter().Tag(name));

    [Fact]
    public void Add_SpansOfDifferentLengths_Throws()
    {
        var counter = new EntityCounter();
        var o = counter.Tag("O")!.Value;
        var error = Assert.Throws<ArgumentException>(() => counter.Add([o, o], [o]));
        Assert.Contains("2 tags", error.Message);
    }

    /// <summary>Random sentences of random tags (a 64-bit LCG, so that the Python script that made the expected counts draws the same).</summary>
    private static IEnumerable<(List<string> Label, List<string> Guess)> RandomSentences(ulong state, string letters, int tokens)
    {
        int Next(int n)
        {
            state = unchecked(state * 6364136223846793005UL + 1442695040888963407UL);
            return (int)((state >> 33) % (ulong)n);
        }
        string Tag(char letter, string type) => letter == 'O' ? "O" : $"{letter}-{type}";

        var (label, guess) = (new List<string>(), new List<string>());
        for (int i = 0; i < tokens; i++)
        {
            string trueType = Types[Next(4)], guessType = Types[Next(4)];
            char trueLetter = letters[Next(letters.Length)], guessLetter = letters[Next(letters.Length)];
            label.Add(Tag(trueLetter, trueType));
            guess.Add(Tag(guessLetter, guessType));
            if (Next(20) == 0)
            {
                yield return (label, guess);
                (label, guess) = ([], []);
            }
        }
        if (label.Count > 0) yield return (label, guess);
    }
}
