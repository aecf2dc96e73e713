#!/usr/bin/env python3
"""Builds the multi-label text-classification sample (samples/data/goemotions/) from GoEmotions.

    python3 samples/data/make_multilabel_sample.py <isabelhdias/sentiment-aware-conversational-agent repo> samples/data

<repo> is a checkout or a bare git directory of github.com/isabelhdias/sentiment-aware-conversational-agent, whose
data/goemotions/ holds a copy of GoEmotions' goemotions/data/ (google-research/google-research) with a header row
`text<TAB>label<TAB>id` added; without that row the files have exactly the length of the originals. The inputs are
read at the pinned commit with `git show` and checked against their SHA-256, so the output is byte-identical on every
run or the script stops. Standard library only. See samples/data/goemotions/README.md.

GoEmotions rows are `text<TAB>comma-separated label ids<TAB>comment id`, CSV-quoted where the text holds a quote.
8,000 rows of train.tsv and 600 of test.tsv are kept: the first by SHA-256 of a seed and the comment id.
"""

import collections
import csv
import hashlib
import io
import os
import subprocess
import sys

REPOSITORY = "isabelhdias/sentiment-aware-conversational-agent"
COMMIT = "a4b20ba2a74d87128e647437b47773211fedd503"
LABELS = ("data/goemotions/labels.txt", "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89")
SOURCES = {
    "train": ("data/goemotions/train.tsv", "9abfe94b5dd8d9bf98f5fe408a530f7932e4f836119079c5ce81cb7b70be9222", 43410, 8000),
    "test": ("data/goemotions/test.tsv", "5ca8a6440588d571a756b83882d048779633f5c56fe9747515bdc7fc2ea1b802", 5427, 600),
}
SEED = "mlnettuning-goemotions-v1"


def read_source(repo, name, sha256):
    git_dir = repo if os.path.isdir(os.path.join(repo, "objects")) else os.path.join(repo, ".git")
    data = subprocess.run(["git", "--git-dir", git_dir, "show", f"{COMMIT}:{name}"], check=True,
                          capture_output=True).stdout
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        sys.exit(f"{name}: sha256 {actual}, expected {sha256} (commit {COMMIT} of {REPOSITORY})")
    return data.decode("utf-8")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    repo, out_root = sys.argv[1], sys.argv[2]
    names = read_source(repo, *LABELS).split("\n")
    if len(names) != 28 or names[-1] != "neutral":
        sys.exit("labels.txt: expected the 28 GoEmotions labels")
    folder = os.path.join(out_root, "goemotions")
    os.makedirs(folder, exist_ok=True)
    for split, (name, sha256, expected, size) in SOURCES.items():
        rows = list(csv.reader(io.StringIO(read_source(repo, name, sha256)), delimiter="\t"))
        if rows[0] != ["text", "label", "id"] or len(rows) - 1 != expected or any(len(r) != 3 for r in rows):
            sys.exit(f"{name}: expected a header and {expected} rows of 3 fields")
        rows = sorted(rows[1:], key=lambda r: hashlib.sha256(f"{SEED}:{split}:{r[2]}".encode()).hexdigest())[:size]
        counts = collections.Counter()
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8", newline="\n") as f:
            f.write("Text\tLabels\n")
            for text, ids, _ in rows:
                text = " ".join(text.split())  # whitespace runs become one space, ends trimmed
                labels = [names[int(i)] for i in ids.split(",")]
                if not text or len(set(labels)) != len(labels):
                    sys.exit(f"{name}: bad row {text!r} {ids!r}")
                counts.update(labels)
                counts[f"#{len(labels)}"] += 1
                f.write(f"{text}\t{' '.join(labels)}\n")
        print(split, len(rows), ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))))


if __name__ == "__main__":
    main()
