namespace MLNetTuning.Text;

/// <summary>
/// How a BERT WordPiece tokenizer normalizes text and which special tokens it uses, with Hugging Face's defaults
/// for uncased models (<c>bert-base-uncased</c>).
/// </summary>
/// <param name="LowerCase">Hugging Face <c>do_lower_case</c>.</param>
/// <param name="StripAccents">Hugging Face <c>strip_accents</c>: null means "follow <paramref name="LowerCase"/>".</param>
/// <param name="SplitCjk">Hugging Face <c>tokenize_chinese_chars</c>: every CJK ideograph becomes its own word.</param>
/// <param name="ModelMaxLength">Hugging Face <c>model_max_length</c>; <see cref="int.MaxValue"/> means unlimited.</param>
/// <param name="UnknownToken">Replaces words the vocabulary cannot spell.</param>
/// <param name="ClsToken">Starts every input.</param>
/// <param name="SepToken">Ends each text of an input.</param>
/// <param name="PadToken">Fills batches up to a common length.</param>
/// <param name="MaskToken">Masked-language-model token (kept so that saved folders are complete).</param>
/// <param name="ContinuingSubwordPrefix">Prefix of word-continuation pieces in the vocabulary.</param>
/// <param name="MaxInputCharsPerWord">Longer words (in normalized characters) become the unknown token.</param>
internal sealed record BertTokenizerSettings(
    bool LowerCase = true,
    bool? StripAccents = null,
    bool SplitCjk = true,
    int ModelMaxLength = 512,
    string UnknownToken = "[UNK]",
    string ClsToken = "[CLS]",
    string SepToken = "[SEP]",
    string PadToken = "[PAD]",
    string MaskToken = "[MASK]",
    string ContinuingSubwordPrefix = "##",
    int MaxInputCharsPerWord = 100)
{
    /// <summary>Whether accents are removed, resolving Hugging Face's "None follows do_lower_case" rule.</summary>
    public bool StripsAccents => StripAccents ?? LowerCase;

    /// <summary>The five special tokens, in the order Hugging Face lists them in special_tokens_map.json.</summary>
    public IEnumerable<(string Key, string Token)> SpecialTokens =>
    [
        ("unk_token", UnknownToken), ("sep_token", SepToken), ("pad_token", PadToken),
        ("cls_token", ClsToken), ("mask_token", MaskToken),
    ];
}
