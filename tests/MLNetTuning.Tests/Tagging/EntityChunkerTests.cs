using MLNetTuning.Tagging;

namespace MLNetTuning.Tests.Tagging;

/// <summary>Entities read from tag sequences, checked against seqeval 1.2's default-mode <c>get_entities</c> on the same sequences.</summary>
public sealed class EntityChunkerTests
{
    [Theory]
    // seqeval's own test_get_entities example.
    [InlineData("O O O B-MISC I-MISC I-MISC O B-PER I-PER", "MISC 3-5, PER 7-8")]
    // Bare prefixes (test_get_entities_with_only_IOB): the type is "_".
    [InlineData("O O O B I I O", "_ 3-5")]
    [InlineData("B I O", "_ 0-1")]
    // IOB1 and the lenient default: an I- after O or after another type starts an entity; B- after I- splits one.
    [InlineData("I-PER I-PER B-PER O", "PER 0-1, PER 2-2")]
    [InlineData("I-PER I-LOC", "PER 0-0, LOC 1-1")]
    [InlineData("B-PER I-LOC I-LOC", "PER 0-0, LOC 1-2")]
    [InlineData("B-PER B-PER", "PER 0-0, PER 1-1")]
    // IOBES and IOE: E- and S- close an entity; an I- or E- after them opens the next.
    [InlineData("S-PER B-LOC I-LOC E-LOC S-PER O", "PER 0-0, LOC 1-3, PER 4-4")]
    [InlineData("B-PER E-PER I-PER", "PER 0-1, PER 2-2")]
    [InlineData("B-PER I-PER S-PER", "PER 0-1, PER 2-2")]
    [InlineData("E-PER E-PER", "PER 0-0, PER 1-1")]
    [InlineData("I-PER E-PER E-LOC", "PER 0-1, LOC 2-2")]
    [InlineData("E-PER B-PER I-PER", "PER 0-0, PER 1-2")]
    [InlineData("S-PER I-PER E-PER", "PER 0-0, PER 1-2")]
    // A type may hold hyphens: only the first one separates the position letter.
    [InlineData("B-PER-X I-PER-X", "PER-X 0-1")]
    [InlineData("O O", "")]
    public void Find_MatchesSeqevalDefaultMode(string tags, string expected)
    {
        var counter = new EntityCounter();
        var typeNames = new Dictionary<int, string>();
        var parsed = tags.Split(' ').Select(name =>
        {
            var tag = counter.Tag(name)!.Value;
            if (!tag.IsOutside) typeNames[tag.Type] = name.Length == 1 ? "_" : name[2..];
            return tag;
        }).ToArray();
        var chunks = new List<EntityChunk>();

        EntityChunker.Find(parsed, chunks);

        Assert.Equal(expected, string.Join(", ", chunks.Select(c => $"{typeNames[c.Type]} {c.Start}-{c.End}")));
    }
}
