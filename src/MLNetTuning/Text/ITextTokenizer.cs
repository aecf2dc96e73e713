namespace MLNetTuning.Text;

/// <summary>
/// What every tokenizer kind offers the rest of the library (Hugging Face's tokenizer surface): a text or a pair encoded
/// with the model's special-token template, offsets into the original text, truncation, padding and saving into a model
/// folder. WordPiece (<see cref="BertTextTokenizer"/>), byte-level BPE (<see cref="ByteLevelBpeTextTokenizer"/>) and
/// SentencePiece Unigram (<see cref="SentencePieceTextTokenizer"/>) sit behind it. Instances are immutable and thread-safe.
/// </summary>
internal interface ITextTokenizer
{
    /// <summary>Number of ids, i.e. the size the model's word embedding must have.</summary>
    int VocabSize { get; }

    int PadId { get; }
    int UnkId { get; }

    /// <summary>Where the special tokens go around a text and a pair, and which token types the pair's second part gets.</summary>
    SpecialTokenTemplate Template { get; }

    /// <summary>The token with id <paramref name="id"/>, or null for an id the vocabulary leaves unused.</summary>
    string? TokenOf(int id);

    /// <summary>
    /// Encodes a text, or a text pair, with special tokens, truncated to <paramref name="maxLength"/> tokens in total
    /// (special tokens included) with Hugging Face's <c>longest_first</c> strategy.
    /// </summary>
    EncodedText Encode(string text, string? pair = null, int maxLength = 512);

    /// <summary>
    /// The ids of one word of a pre-split sentence, without special tokens, as Hugging Face's <c>is_split_into_words</c>
    /// gives them (a byte-level BPE adds the space that separates words). Empty when the tokenizer drops the word whole.
    /// </summary>
    int[] EncodeWord(string word);

    /// <summary>Pads encoded inputs into one batch (see <see cref="EncodedText"/>).</summary>
    BatchEncoding Pad(IReadOnlyList<EncodedText> items, int? fixedLength = null);

    /// <summary>Writes the tokenizer files into a model folder so that this library and <c>AutoTokenizer.from_pretrained</c> load it.</summary>
    void Save(string folder);
}

/// <summary>
/// A model's special-token layout as data (Hugging Face's <c>TemplateProcessing</c>): a text is
/// <c>Start a End</c>, a pair <c>Start a Separator b End</c>. BERT: <c>[CLS] a [SEP] b [SEP]</c> with token type 1 from
/// <c>b</c> on; RoBERTa: <c>&lt;s&gt; a &lt;/s&gt;&lt;/s&gt; b &lt;/s&gt;</c> with token type 0 throughout.
/// </summary>
internal sealed record SpecialTokenTemplate(int[] Start, int[] Separator, int[] End, bool SecondSequenceTypeOne)
{
    /// <summary>Special tokens in a single text.</summary>
    public int SingleCount => Start.Length + End.Length;

    /// <summary>Special tokens in a pair.</summary>
    public int PairCount => Start.Length + Separator.Length + End.Length;

    /// <summary>Lays out one text, or a pair, of (id, offset) tokens with the special tokens; offsets are (0, 0) on special tokens.</summary>
    public EncodedText Apply(IReadOnlyList<(int Id, int Start, int End)> first, IReadOnlyList<(int Id, int Start, int End)>? second)
    {
        int total = first.Count + (second is null ? SingleCount : second.Count + PairCount);
        var ids = new int[total];
        var typeIds = new int[total];
        var offsets = new (int Start, int End)[total];
        var sequence = new int[total];
        int n = 0;
        void Specials(int[] tokens) { foreach (int id in tokens) { ids[n] = id; sequence[n++] = -1; } }
        void Tokens(IReadOnlyList<(int Id, int Start, int End)> tokens, int index)
        {
            foreach (var token in tokens)
            {
                (ids[n], offsets[n].Start, offsets[n].End) = token;
                sequence[n++] = index;
            }
        }
        Specials(Start);
        Tokens(first, 0);
        if (second is not null)
        {
            Specials(Separator);
            int secondStart = n;
            Tokens(second, 1);
            Specials(End);
            if (SecondSequenceTypeOne) typeIds.AsSpan(secondStart).Fill(1);
        }
        else Specials(End);
        return new EncodedText(ids, typeIds, offsets, sequence);
    }
}
