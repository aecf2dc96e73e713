#!/usr/bin/env python3
"""Makes the Hugging Face reference fixtures that HuggingFaceReferenceTests reads.

One-off, on a machine with transformers, tokenizers, sentencepiece, safetensors and PyTorch (no network, no GPU
needed: everything runs on the CPU in float32, so the reference is not TF32 GPU arithmetic):

    python3 tests/MLNetTuning.Tests/Data/hf-reference/make_fixtures.py OUTPUT_FOLDER

run from the repository root; then copy OUTPUT_FOLDER's contents beside this script. For each family it writes
    FAMILY/sequence-classification/, FAMILY/token-classification/, FAMILY/question-answering/
        a tiny random model (hidden 32, 2 layers, 4 heads) saved by save_pretrained (config.json, model.safetensors),
        and the family's tokenizer saved by save_pretrained
    FAMILY/reference.json          the inputs (texts, pairs, question/context windows, pre-split words) and what the
                                   tokenizer made of them: ids, attention masks, token types, offsets, word ids,
                                   sequence ids and the window -> example mapping
    FAMILY/reference.safetensors   every head's logits and the sequence-classification model's last hidden state on
                                   those ids (float32)
and versions.json (the library versions) and log.txt. A family that fails is logged and the others go on.

The tokenizers are trained here on bundled text (samples/data/goemotions, English Reddit comments, Apache-2.0, and
Tang poems from tests/MLNetTuning.Tests/Data/sentencepiece/texts.txt, chinese-poetry, MIT) with the `tokenizers`
library (WordPiece, byte-level BPE) or `sentencepiece` (Unigram), written in the family's own files, then loaded by
transformers' AutoTokenizer from those files, as a checkpoint on the Hub is, and saved again by save_pretrained.
Every parameter is drawn afresh (normal, sd 0.2; LayerNorm weights around 1) so that no weight is a neutral 0 or 1
and the logits are of order 1: a wrong bias, scale or layout cannot hide inside the 1e-4 tolerance.
"""
import inspect
import json
import os
import shutil
import sys
import tempfile
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
OUT = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else os.path.join(HERE, "out")
HIDDEN, LAYERS, HEADS, INTERMEDIATE = 32, 2, 4, 64
TEXT_LENGTH, PAIR_LENGTH, WINDOW_LENGTH, WINDOW_STRIDE, WORD_LENGTH = 32, 48, 96, 16, 40
SEQUENCE_LABELS = ["negative", "neutral", "positive"]
TOKEN_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
LOG = []


def log(message):
    print(message, flush=True)
    LOG.append(message)


def read_lines(path):
    with open(os.path.join(REPO, path), encoding="utf-8") as f:
        return f.read().splitlines()


def tsv(path):
    rows = read_lines(path)
    header = rows[0].split("\t")
    return [dict(zip(header, r.split("\t"))) for r in rows[1:] if r.strip()]


# ---------------------------------------------------------------- data (all bundled in the repository)
POEMS = read_lines("tests/MLNetTuning.Tests/Data/sentencepiece/texts.txt")[:600]
COMMENTS_TRAIN = [r["Text"] for r in tsv("samples/data/goemotions/train.tsv")]
COMMENTS_TEST = [r["Text"] for r in tsv("samples/data/goemotions/test.tsv")]
SQUAD = tsv("samples/data/squad/test.tsv")

# What the tokenizers learn from: 400 comments and 12 poems (a small vocabulary leaves most Chinese characters unknown,
# which the fixtures then cover too).
CORPUS = COMMENTS_TRAIN[:400] + POEMS[300:312]

# 50 texts: edge cases of normalization, whitespace, offsets and scripts, then real comments and poems (the poems run
# past the 32-token limit, so truncation is covered).
EDGE_TEXTS = [
    "",
    "  Leading and trailing spaces  ",
    "Tabs\tand\nnew lines,  double  spaces",
    "Café naïve résumé — “quotes” and ‘apostrophes’",
    "e\u0301 (combining accent) next to \u00e9",
    "Emoji 😀👍🏽 and symbols ©®™",
    "URL https://example.com/a?b=c&d=e, mail: a.b@c.org",
    "Numbers 3.14159, 1,000,000 and 10% of $5",
    "MixedCASE WordsWithCamelCase and ALLCAPS",
    "中文和English混合的句子。",
    "Zero\u200bwidth and non\u00a0breaking space",
    "Ünïcödé ÀÉÎÕÜ ßẞ ﬁ ligature",
    "Control\u0007char and \ufeffBOM",
    "Don't won't y'all U.S.A. e-mail",
]
TEXTS = EDGE_TEXTS + COMMENTS_TEST[:28] + POEMS[:8]
assert len(TEXTS) == 50

# 20 pairs: 10 consecutive comments, 10 SQuAD questions with their (long) contexts; longest_first truncation cuts them.
PAIRS = [(COMMENTS_TEST[40 + 2 * i], COMMENTS_TEST[41 + 2 * i]) for i in range(10)] + \
        [(r["Question"], r["Context"]) for r in SQUAD[:10]]

# Question answering windows: 8 SQuAD questions, contexts cut into overlapping windows (only_second, stride 16).
QUESTIONS = [(r["Question"], r["Context"]) for r in SQUAD[10:] if len(r["Question"]) <= 60][:8]


def conll_sentences(path, count):
    sentences, words = [], []
    for line in read_lines(path) + [""]:
        if line.startswith("#"):
            continue
        if not line.strip():
            if words:
                sentences.append(words)
                words = []
            continue
        words.append(line.split("\t")[1])
    return [s for s in sentences if len(s) >= 4][:count]


WORDS = conll_sentences("samples/data/ner-ewt/test.conll", 10)


# ---------------------------------------------------------------- tokenizers, in each family's own files
def train_wordpiece(folder, lowercase):
    from tokenizers import BertWordPieceTokenizer
    tokenizer = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase)
    tokenizer.train_from_iterator(CORPUS, vocab_size=800, min_frequency=2, limit_alphabet=400,
                                  special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.save_model(folder)  # vocab.txt


def train_byte_level_bpe(folder, specials):
    from tokenizers import ByteLevelBPETokenizer
    tokenizer = ByteLevelBPETokenizer(add_prefix_space=False)
    tokenizer.train_from_iterator(CORPUS, vocab_size=800, min_frequency=2, special_tokens=specials)
    tokenizer.save_model(folder)  # vocab.json, merges.txt
    return tokenizer


def train_sentencepiece(path, **ids):
    import sentencepiece as spm
    with tempfile.TemporaryDirectory() as scratch:
        corpus = os.path.join(scratch, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(CORPUS) + "\n")
        spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(scratch, "spm"), model_type="unigram",
                                       vocab_size=800, character_coverage=0.9995, normalization_rule_name="nmt_nfkc",
                                       num_threads=1, minloglevel=2, **ids)
        shutil.copy(os.path.join(scratch, "spm.model"), path)


def write_json(path, value, compact=False):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, **({"separators": (",", ":")} if compact else {"indent": 1}))


def source_tokenizer(family, folder):
    """Writes the family's tokenizer files as its checkpoints ship them; returns the files written."""
    if family in ("bert-uncased", "bert-cased", "distilbert"):
        lowercase = family != "bert-cased"
        train_wordpiece(folder, lowercase)
        cls = "DistilBertTokenizer" if family == "distilbert" else "BertTokenizer"
        write_json(os.path.join(folder, "tokenizer_config.json"), {"tokenizer_class": cls, "do_lower_case": lowercase, "model_max_length": 512})
    elif family == "roberta":
        train_byte_level_bpe(folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
        write_json(os.path.join(folder, "tokenizer_config.json"), {"tokenizer_class": "RobertaTokenizer", "model_max_length": 512})
    elif family == "xlm-roberta":
        # XLM-R's own layout: <unk> 0, <s> 1, </s> 2 in the SentencePiece model; fairseq's ids are added by the tokenizer.
        train_sentencepiece(os.path.join(folder, "sentencepiece.bpe.model"), unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
        write_json(os.path.join(folder, "tokenizer_config.json"), {"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512})
    elif family == "deberta-v2":
        # DeBERTa-v3's layout: [PAD] 0, [CLS] 1, [SEP] 2, [UNK] 3 in spm.model; [MASK] is added after the vocabulary.
        train_sentencepiece(os.path.join(folder, "spm.model"), pad_id=0, bos_id=1, eos_id=2, unk_id=3,
                            pad_piece="[PAD]", bos_piece="[CLS]", eos_piece="[SEP]", unk_piece="[UNK]")
        write_json(os.path.join(folder, "tokenizer_config.json"), {"tokenizer_class": "DebertaV2Tokenizer", "do_lower_case": False,
                                                                 "split_by_punct": False, "vocab_type": "spm", "model_max_length": 512})
    elif family == "modernbert":
        # ModernBERT ships a tokenizer.json only (OLMo's byte-level BPE with BERT's special tokens and template).
        from tokenizers import processors
        tokenizer = train_byte_level_bpe(folder, ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"])
        os.remove(os.path.join(folder, "vocab.json"))
        os.remove(os.path.join(folder, "merges.txt"))
        cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        tokenizer.save(os.path.join(folder, "tokenizer.json"))
        write_json(os.path.join(folder, "tokenizer_config.json"), {
            "tokenizer_class": "PreTrainedTokenizerFast", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]",
            "unk_token": "[UNK]", "mask_token": "[MASK]", "model_input_names": ["input_ids", "attention_mask"],
            "clean_up_tokenization_spaces": True, "model_max_length": 512})
    else:
        raise ValueError(family)
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------- models
def config_of(family, tokenizer):
    import transformers as t
    common = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    if family in ("bert-uncased", "bert-cased"):
        return t.BertConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                            max_position_embeddings=128, type_vocab_size=2, **common)
    if family == "roberta":
        return t.RobertaConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                               max_position_embeddings=130, type_vocab_size=1, layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, **common)
    if family == "xlm-roberta":
        return t.XLMRobertaConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                                  max_position_embeddings=130, type_vocab_size=1, layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, **common)
    if family == "distilbert":
        return t.DistilBertConfig(dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=INTERMEDIATE, max_position_embeddings=128, **common)
    if family == "deberta-v2":
        # deberta-v3-base's settings, scaled down.
        return t.DebertaV2Config(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                                 max_position_embeddings=128, relative_attention=True, position_buckets=16, max_relative_positions=-1,
                                 pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False,
                                 type_vocab_size=0, layer_norm_eps=1e-7, **common)
    if family == "modernbert":
        # ModernBERT-base's settings, scaled down: layer 0 global attention, layer 1 a 16-token sliding window.
        return t.ModernBertConfig(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE,
                                  max_position_embeddings=128, global_attn_every_n_layers=2, local_attention=16, classifier_pooling="mean",
                                  cls_token_id=tokenizer.cls_token_id, sep_token_id=tokenizer.sep_token_id,
                                  bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id, reference_compile=False, **common)
    raise ValueError(family)


def new_model(auto_class, config, seed):
    torch.manual_seed(seed)
    try:
        model = auto_class.from_config(config, attn_implementation="eager")
    except (TypeError, ValueError) as e:
        log(f"  eager attention refused ({e}); default attention")
        model = auto_class.from_config(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and name.endswith("weight"):  # LayerNorm scales
                p.copy_(1 + 0.2 * torch.randn_like(p))
            else:
                p.copy_(0.2 * torch.randn_like(p))
    return model.eval().float()


def model_inputs(encoding, model):
    accepted = set(inspect.signature(model.forward).parameters)
    return {k: torch.tensor(v) for k, v in encoding.items() if k in ("input_ids", "attention_mask", "token_type_ids") and k in accepted}


def as_list(encoding, key):
    return [list(map(list, row)) if key == "offset_mapping" else list(row) for row in encoding[key]] if key in encoding else None


def tokenizer_record(encoding, batch):
    record = {key: as_list(encoding, key) for key in ("input_ids", "attention_mask", "token_type_ids", "offset_mapping")}
    record["sequence_ids"] = [encoding.sequence_ids(i) for i in range(batch)]
    record["word_ids"] = [encoding.word_ids(i) for i in range(batch)]
    return record


MODEL_TYPES = {"bert-uncased": "bert", "bert-cased": "bert", "distilbert": "distilbert", "roberta": "roberta",
               "xlm-roberta": "xlm-roberta", "deberta-v2": "deberta-v2", "modernbert": "modernbert"}


def load_tokenizer(source, family, **options):
    """AutoTokenizer on the family's files; if this transformers lacks the named class, by the model type instead."""
    import transformers as t
    try:
        return t.AutoTokenizer.from_pretrained(source, **options)
    except Exception as e:  # noqa: BLE001
        log(f"  AutoTokenizer by tokenizer_class failed ({e!r}); by model_type")
        path = os.path.join(source, "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
        settings.pop("tokenizer_class", None)
        write_json(path, settings)
        write_json(os.path.join(source, "config.json"), {"model_type": MODEL_TYPES[family]})
        return t.AutoTokenizer.from_pretrained(source, **options)


def make_family(family, seed):
    import transformers as t
    from safetensors.torch import save_file
    root = os.path.join(OUT, family)
    os.makedirs(root)
    with tempfile.TemporaryDirectory() as source:
        source_files = source_tokenizer(family, source)
        tokenizer = load_tokenizer(source, family)
        log(f"  tokenizer {type(tokenizer).__name__}, {len(tokenizer)} ids, from {source_files}")
        # Saved before any call: transformers writes the backend's last truncation and padding into tokenizer.json.
        saved = os.path.join(source, "saved")
        tokenizer.save_pretrained(saved)
        full = {"texts": [tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS],
                "pairs": [[tokenizer(a, add_special_tokens=False)["input_ids"], tokenizer(b, add_special_tokens=False)["input_ids"]] for a, b in PAIRS]}
        # longest_first on pairs of n1 and n2 one-token words: what each side keeps, the whole table of cases.
        word = next(w for w in ("x", "a", "the") if len(tokenizer(w, add_special_tokens=False)["input_ids"]) == 1 and
                    len(tokenizer(" ".join([w] * 5), add_special_tokens=False)["input_ids"]) == 5)
        truncation = []
        for n1 in (5, 20, 22, 23, 24, 25, 44, 45, 46, 47, 60):
            for n2 in (5, 20, 22, 23, 24, 25, 44, 45, 46, 47, 60):
                e = tokenizer(" ".join([word] * n1), " ".join([word] * n2), truncation="longest_first", max_length=PAIR_LENGTH)
                truncation.append([n1, n2, e.sequence_ids(0).count(0), e.sequence_ids(0).count(1)])

        texts = tokenizer(TEXTS, padding="longest", truncation=True, max_length=TEXT_LENGTH, return_offsets_mapping=True)
        pairs = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], padding="longest", truncation="longest_first",
                          max_length=PAIR_LENGTH, return_offsets_mapping=True)
        windows = tokenizer([q for q, _ in QUESTIONS], [c for _, c in QUESTIONS], truncation="only_second", max_length=WINDOW_LENGTH,
                            stride=WINDOW_STRIDE, return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length")
        try:
            word_tokenizer = load_tokenizer(source, family, add_prefix_space=True) if family in ("roberta", "modernbert") else tokenizer
            words = word_tokenizer(WORDS, is_split_into_words=True, padding="longest", truncation=True, max_length=WORD_LENGTH)
        except Exception as e:  # noqa: BLE001 - a tokenizer without pre-split words still gives the other fixtures
            log(f"  pre-split words failed: {e!r}")
            words = None

        reference = {
            "family": family, "tokenizer_class": type(tokenizer).__name__, "source_files": source_files,
            "settings": {"text_max_length": TEXT_LENGTH, "pair_max_length": PAIR_LENGTH, "window_max_length": WINDOW_LENGTH,
                         "window_stride": WINDOW_STRIDE, "word_max_length": WORD_LENGTH},
            "texts": {"inputs": TEXTS, **tokenizer_record(texts, len(TEXTS))},
            "pairs": {"inputs": [list(p) for p in PAIRS], **tokenizer_record(pairs, len(PAIRS))},
            "windows": {"inputs": [list(q) for q in QUESTIONS], "overflow_to_sample_mapping": list(windows["overflow_to_sample_mapping"]),
                        **tokenizer_record(windows, len(windows["input_ids"]))},
            "words": None if words is None else {"inputs": WORDS, **tokenizer_record(words, len(WORDS))},
            "untruncated_ids": full,
            "longest_first": {"word": word, "max_length": PAIR_LENGTH, "cases": truncation},
        }

        tensors = {}
        heads = [("sequence-classification", t.AutoModelForSequenceClassification, dict(num_labels=3, id2label=dict(enumerate(SEQUENCE_LABELS)))),
                 ("token-classification", t.AutoModelForTokenClassification, dict(num_labels=5, id2label=dict(enumerate(TOKEN_LABELS)))),
                 ("question-answering", t.AutoModelForQuestionAnswering, {})]
        for index, (head, auto_class, labels) in enumerate(heads):
            folder = os.path.join(root, head)
            config = config_of(family, tokenizer)
            for key, value in labels.items():
                setattr(config, key, value)
            if "id2label" in labels:
                config.label2id = {v: k for k, v in labels["id2label"].items()}
            model = new_model(auto_class, config, seed * 10 + index)
            model.save_pretrained(folder)
            for name in os.listdir(saved):
                shutil.copy(os.path.join(saved, name), folder)
            reloaded = t.AutoTokenizer.from_pretrained(folder)(TEXTS, padding="longest", truncation=True, max_length=TEXT_LENGTH)
            if reloaded["input_ids"] != texts["input_ids"]:
                raise AssertionError(f"{head}: the saved tokenizer encodes the texts differently from the one that made the fixtures")
            with torch.no_grad():
                if head == "sequence-classification":
                    tensors["texts.sequence_logits"] = model(**model_inputs(texts, model)).logits
                    tensors["texts.last_hidden_state"] = model.base_model(**model_inputs(texts, model.base_model)).last_hidden_state
                    tensors["pairs.sequence_logits"] = model(**model_inputs(pairs, model)).logits
                elif head == "token-classification":
                    tensors["texts.token_logits"] = model(**model_inputs(texts, model)).logits
                    if words is not None:
                        tensors["words.token_logits"] = model(**model_inputs(words, model)).logits
                else:
                    out = model(**model_inputs(windows, model))
                    tensors["windows.start_logits"], tensors["windows.end_logits"] = out.start_logits, out.end_logits
            reference.setdefault("folders", {})[head] = sorted(os.listdir(folder))
            log(f"  {head}: {type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} parameters, files {sorted(os.listdir(folder))}")

        # A family file the saved folder lacks (transformers 5 may write tokenizer.json only) is copied from the source,
        # as checkpoints on the Hub carry both; the manifest says which files transformers wrote.
        for head in reference["folders"]:
            folder = os.path.join(root, head)
            for name in source_files:
                if name not in os.listdir(folder) and os.path.isfile(os.path.join(source, name)):
                    shutil.copy(os.path.join(source, name), folder)
                    reference.setdefault("copied_from_source", []).append(f"{head}/{name}")

    write_json(os.path.join(root, "reference.json"), reference, compact=True)
    save_file({k: v.contiguous().float() for k, v in tensors.items()}, os.path.join(root, "reference.safetensors"))
    log(f"  tensors: {', '.join(f'{k} {list(v.shape)}' for k, v in tensors.items())}")


def main():
    import importlib.metadata as md
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    torch.set_num_threads(4)
    versions = {"python": sys.version.split()[0]}
    for name in ("torch", "transformers", "tokenizers", "sentencepiece", "safetensors", "protobuf", "numpy"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    log(f"versions: {versions}")
    write_json(os.path.join(OUT, "versions.json"), versions)
    families = sys.argv[2].split(",") if len(sys.argv) > 2 else \
        ["bert-uncased", "bert-cased", "roberta", "xlm-roberta", "distilbert", "deberta-v2", "modernbert"]
    failed = []
    for seed, family in enumerate(families, start=1):
        log(f"{family}:")
        try:
            make_family(family, seed)
        except BaseException as e:  # noqa: BLE001 - one family's failure (a tokenizers panic too) must not cost the others
            if isinstance(e, KeyboardInterrupt):
                raise
            log(traceback.format_exc())
            failed.append(family)
            shutil.rmtree(os.path.join(OUT, family), ignore_errors=True)
    log(f"done; failed: {failed or 'none'}")
    with open(os.path.join(OUT, "log.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(LOG) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
