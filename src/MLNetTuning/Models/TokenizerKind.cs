namespace MLNetTuning.Models;

/// <summary>The tokenizer algorithm a family's checkpoints come with; Text/ builds the tokenizer of each kind.</summary>
internal enum TokenizerKind
{
    /// <summary>BERT's WordPiece (vocab.txt, or tokenizer.json with a WordPiece model).</summary>
    WordPiece,
    /// <summary>GPT-2's byte-level BPE, as RoBERTa uses it (vocab.json and merges.txt, or tokenizer.json with a BPE model).</summary>
    ByteLevelBpe,
    /// <summary>A SentencePiece Unigram model with fairseq's id layout, as XLM-RoBERTa uses it (sentencepiece.bpe.model).</summary>
    SentencePieceUnigram,
}
