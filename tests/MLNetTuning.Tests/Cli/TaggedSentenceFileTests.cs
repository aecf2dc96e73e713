using MLNetTuning.Cli;
using MLNetTuning.Cli.Data;

namespace MLNetTuning.Tests.Cli;

/// <summary>Reading token-classification files: the bundled CoNLL samples, CoNLL-2003 and CoNLL-U layouts, TSV, and bad files.</summary>
public sealed class TaggedSentenceFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mlnt-tagged-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("ner-ewt", "train.conll", 1500, 18900)]
    [InlineData("ner-ewt", "test.conll", 500, 5965)]
    [InlineData("pos-ewt", "train.conll", 1500, 18576)]
    [InlineData("pos-ewt", "test.conll", 500, 5917)]
    public void BundledSamples_ReadWithTheirCountsFromSamplesReadme(string folder, string file, int sentences, int words)
    {
        string path = RepoFiles.Path("samples", "data", folder, file);
        Assert.True(File.Exists(path), $"The bundled sample {path} is missing; see samples/data/README.md.");

        var read = TaggedSentenceFile.ReadConll(path, wordColumn: 1, tagColumn: 2, "train");

        Assert.Equal(sentences, read.Count);
        Assert.Equal(words, read.Sum(s => s.Words.Length));
        Assert.All(read, s => Assert.Equal(s.Words.Length, s.Tags.Length));
        Assert.Equal(3, read[0].Line);   // after the sent_id and text comments
        string[] expectedTags = folder == "ner-ewt"
            ? ["B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER", "O"]
            : ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X"];
        Assert.Equal(expectedTags, read.SelectMany(s => s.Tags).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public void BundledNer_KeepsWordsThatStartWithHash()
    {
        // The ID column comes first precisely so that the word "#" is not a comment.
        var read = TaggedSentenceFile.ReadConll(RepoFiles.Path("samples", "data", "ner-ewt", "train.conll"), 1, 2, "train");
        Assert.Contains(read, s => s.Words.Contains("#"));
    }

    [Fact]
    public void Conll2003Layout_SpaceSeparated_LastColumnTag_SkipsDocstart()
    {
        string path = Write("eng.train", """
            -DOCSTART- -X- -X- O

            EU NNP B-NP B-ORG
            rejects VBZ B-VP O
            German JJ B-NP B-MISC

            Peter NNP B-NP B-PER
            Blackburn NNP I-NP I-PER
            """);

        var read = TaggedSentenceFile.ReadConll(path, wordColumn: 0, tagColumn: -1, "train");

        Assert.Equal(2, read.Count);
        Assert.Equal(["EU", "rejects", "German"], read[0].Words);
        Assert.Equal(["B-ORG", "O", "B-MISC"], read[0].Tags);
        Assert.Equal(["B-PER", "I-PER"], read[1].Tags);
        Assert.Equal((3, 7), (read[0].Line, read[1].Line));
    }

    [Fact]
    public void Conllu_SkipsMultiwordTokensAndEmptyNodes_AndCommentsOnlyBeforeTheFirstWord()
    {
        string path = Write("x.conllu", "# sent_id = 1\n# text = I don't # know\n" +
            "1\tI\tI\tPRON\n2-3\tdon't\t_\t_\n2\tdo\tdo\tAUX\n3\tn't\tnot\tPART\n3.1\tgo\tgo\tVERB\n4\t#\t#\tSYM\n5\tknow\tknow\tVERB\n\n");

        var read = Assert.Single(TaggedSentenceFile.ReadConll(path, wordColumn: 1, tagColumn: 3, "train"));

        Assert.Equal(["I", "do", "n't", "#", "know"], read.Words);
        Assert.Equal(["PRON", "AUX", "PART", "SYM", "VERB"], read.Tags);
    }

    [Fact]
    public void Conll_LineWithTooFewColumns_IsNamedWithBothCounts()
    {
        string path = Write("bad.conll", "1\tEU\tB-ORG\n2\trejects\n");

        var error = Assert.Throws<CliException>(() => TaggedSentenceFile.ReadConll(path, 1, 2, "--data"));

        Assert.Contains(path, error.Message);
        Assert.Contains("--data", error.Message);
        Assert.Contains("line 2, has 2 column(s) but line 1 has 3", error.Message);
    }

    [Fact]
    public void Conll_TagColumnOutOfRange_SaysTheRange()
    {
        string path = Write("short.conll", "# a comment\nEU\tB-ORG\n");

        var error = Assert.Throws<CliException>(() => TaggedSentenceFile.ReadConll(path, 0, 3, "train"));

        Assert.Contains("tag column (--tag-column) is 3", error.Message);
        Assert.Contains("line 2", error.Message);
        Assert.Contains("0 to 1", error.Message);
    }

    [Fact]
    public void Conll_EmptyOrMissingFile_SaysWhatWasExpected()
    {
        string empty = Write("empty.conll", "# only a comment\n\n");
        Assert.Contains("holds no sentences", Assert.Throws<CliException>(() => TaggedSentenceFile.ReadConll(empty, 0, 1, "train")).Message);
        string missing = Path.Combine(_folder, "nope.conll");
        Assert.Contains("does not exist", Assert.Throws<CliException>(() => TaggedSentenceFile.ReadConll(missing, 0, 1, "train")).Message);
    }

    [Fact]
    public void Tsv_OneSentencePerRow_WordsAndTagsSeparatedBySpaces()
    {
        string path = Write("ner.tsv", "Words\tTags\nEU rejects German\tB-ORG O B-MISC\n\nPeter Blackburn\tB-PER I-PER\r\n");

        var read = TaggedSentenceFile.ReadTsv(path, "Words", "Tags", "train");

        Assert.Equal(2, read.Count);
        Assert.Equal(["EU", "rejects", "German"], read[0].Words);
        Assert.Equal(["B-PER", "I-PER"], read[1].Tags);
        Assert.Equal(4, read[1].Line);
    }

    [Fact]
    public void Tsv_RowWhoseWordAndTagCountsDiffer_IsNamedWithBothCounts()
    {
        string path = Write("ner.tsv", "Words\tTags\nEU rejects\tB-ORG O\nPeter Blackburn\tB-PER\n");

        var error = Assert.Throws<CliException>(() => TaggedSentenceFile.ReadTsv(path, "Words", "Tags", "train"));

        Assert.Contains("line 3", error.Message);
        Assert.Contains("2 words in column 'Words' but 1 tags in column 'Tags'", error.Message);
    }

    [Fact]
    public void Tsv_MissingColumn_ListsTheColumns()
    {
        string path = Write("ner.tsv", "Tokens\tTags\nEU\tB-ORG\n");

        var error = Assert.Throws<CliException>(() => TaggedSentenceFile.ReadTsv(path, "words", "Tags", "train"));

        Assert.Contains("no words column 'words'", error.Message);
        Assert.Contains("Tokens, Tags", error.Message);
    }

    [Fact]
    public void Tsv_RowWithAnExtraTab_IsNamed()
    {
        string path = Write("ner.tsv", "Words\tTags\nEU\tB-ORG\tx\n");

        var error = Assert.Throws<CliException>(() => TaggedSentenceFile.ReadTsv(path, "Words", "Tags", "train"));

        Assert.Contains("line 2, has 3 fields but the header has 2", error.Message);
    }

    private string Write(string name, string text)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);
        return path;
    }
}
