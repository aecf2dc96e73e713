#!/usr/bin/env python3
"""Makes the SentencePiece cross-check fixture that SentencePieceTokenizerTests reads.

One-off: the tests compare our XLM-RoBERTa tokenizer (Microsoft.ML.Tokenizers' SentencePiece Unigram) with the reference
implementation, Debian's `sentencepiece` package (spm_train, spm_encode 0.1.9x), without needing it installed.

    apt-get install -y sentencepiece
    npm pack chinese-poetry@2.0.1 && tar xzf chinese-poetry-2.0.1.tgz    # gives package/dist/...
    python3 make_fixture.py package/dist

Writes, beside this script:
  texts.txt       the 1,200 texts encoded: 600 Tang poems (one per line, the poem's lines joined) from chinese-poetry
                  2.0.1 (MIT, LICENSE.chinese-poetry), then the first 600 comments of samples/data/goemotions/test.tsv
                  (Apache-2.0, see samples/data/goemotions/README.md)
  spm.model       a Unigram model (vocabulary 4,000, nmt_nfkc normalization as XLM-RoBERTa's) trained by spm_train on
                  the other 600 poems of the file and the 2,000 comments of samples/data/goemotions/train.tsv
  spm_ids.txt     spm_encode --output_format=id of every line of texts.txt
"""
import json
import os
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.abspath(os.path.join(here, "..", "..", "..", ".."))
dist = sys.argv[1]

poems = json.load(open(os.path.join(dist, "quantangshi", "poet.tang.0.json"), encoding="utf-8"))
lines = ["".join(p["paragraphs"]).replace("\n", "").strip() for p in poems]
lines = [l for l in lines if l]
evaluated, trained = lines[:600], lines[600:1200]

def comments(name):
    rows = open(os.path.join(repo, "samples", "data", "goemotions", name), encoding="utf-8").read().splitlines()[1:]
    return [r.split("\t")[0].strip() for r in rows if r.split("\t")[0].strip()]

texts = evaluated + comments("test.tsv")[:600]
with open(os.path.join(here, "texts.txt"), "w", encoding="utf-8") as f:
    f.write("\n".join(texts) + "\n")

with tempfile.TemporaryDirectory() as scratch:
    corpus = os.path.join(scratch, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(trained + comments("train.tsv")) + "\n")
    prefix = os.path.join(scratch, "spm")
    subprocess.run(["spm_train", f"--input={corpus}", f"--model_prefix={prefix}", "--model_type=unigram", "--vocab_size=4000",
                    "--character_coverage=0.9995", "--normalization_rule_name=nmt_nfkc", "--seed_sentencepiece_size=200000",
                    "--num_threads=1"], check=True, capture_output=True)
    os.replace(prefix + ".model", os.path.join(here, "spm.model"))

ids = subprocess.run(["spm_encode", f"--model={os.path.join(here, 'spm.model')}", "--output_format=id",
                      os.path.join(here, "texts.txt")], check=True, capture_output=True, text=True).stdout
with open(os.path.join(here, "spm_ids.txt"), "w", encoding="utf-8") as f:
    f.write(ids)
print(f"{len(texts)} texts, {len(ids.splitlines())} id lines")
