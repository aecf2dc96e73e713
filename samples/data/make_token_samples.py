#!/usr/bin/env python3
"""Builds the token-classification samples from Universal NER and Universal Dependencies (English-EWT).

    python3 samples/data/make_token_samples.py ner <UNER_English-EWT repo> samples/data
    python3 samples/data/make_token_samples.py pos <UD_English-EWT repo> samples/data

<repo> is a checkout or a bare git directory of the source repository. Every input file is checked against the git
blob id of the pinned commit, so the output is byte-identical on every run or the script stops. Standard library only.
See samples/data/README.md ("Universal NER" and "Universal Dependencies").
"""

import hashlib
import os
import subprocess
import sys

# The pinned inputs: (file name, git blob id at the pinned commit). The train files of both repositories are too big for
# the snapshot these samples were made from, so both splits come from the smaller dev and test files.
SOURCES = {
    "ner": {
        "repository": "UniversalNER/UNER_English-EWT",
        "commit": "8ed072de2fd24022cc62458997fe96a8fe191ea4",
        "train": ("en_ewt-ud-dev.iob2", "ba19f8b2c24da16a9131408b5f07e3a3f0bdc5b8"),
        "test": ("en_ewt-ud-test.iob2", "45c5da3de8d9908dfff8d1883837ae4c42d48424"),
        "folder": "ner-ewt",
        "seed": "mlnettuning-uner-ewt-v1",
    },
    "pos": {
        "repository": "UniversalDependencies/UD_English-EWT",
        "commit": "15d613d8447b3478787d4c278730a1e48a945efb",
        "train": ("en_ewt-ud-dev.conllu", "a994b6990643429070ecc6e236d26ad6a04bfefb"),
        "test": ("en_ewt-ud-test.conllu", "c59667960ae967636606f47bc35f132a5557ad39"),
        "folder": "pos-ewt",
        "seed": "mlnettuning-ud-ewt-upos-v1",
    },
}
SIZES = {"train": 1500, "test": 500}
NER_TAGS = {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "ORG", "LOC")}
UPOS_TAGS = {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
             "SCONJ", "SYM", "VERB", "X"}


def fail(message):
    sys.stderr.write(message + "\n")
    sys.exit(1)


def read_pinned(repo, commit, name, blob):
    """The bytes of file `name`, from a checkout or from a bare git directory, checked against its git blob id."""
    path = os.path.join(repo, name)
    if os.path.isfile(path):
        with open(path, "rb") as f:
            data = f.read()
    else:
        result = subprocess.run(["git", "--git-dir", repo, "show", f"{commit}:{name}"], capture_output=True)
        if result.returncode != 0:
            fail(f"'{name}' is neither a file in '{repo}' nor readable from it as a git directory at commit {commit}: "
                 f"{result.stderr.decode(errors='replace').strip()}. Give a checkout or a clone of the repository.")
        data = result.stdout
    actual = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    if actual != blob:
        fail(f"'{name}' in '{repo}' has git blob id {actual}, expected {blob} (commit {commit}). "
             f"Check out that commit so that the sample is reproduced exactly.")
    return data.decode("utf-8")


def sentences(text, name):
    """(sent_id, text, [(id, form, column 3, column 4)]) per sentence; comments other than sent_id and text are dropped."""
    result, comments, tokens = [], {}, []
    for number, line in enumerate(text.split("\n"), start=1):
        if line == "":
            if tokens:
                if "sent_id" not in comments or "text" not in comments:
                    fail(f"{name}, sentence ending at line {number}: expected '# sent_id = ' and '# text = ' comments.")
                result.append((comments["sent_id"], comments["text"], tokens))
            comments, tokens = {}, []
        elif line.startswith("#") and not tokens:
            key, sep, value = line[1:].partition("=")
            if sep:
                comments[key.strip()] = value.strip()
        else:
            fields = line.split("\t")
            if len(fields) < 4:
                fail(f"{name}, line {number}: expected at least 4 tab-separated columns, found {len(fields)}.")
            tokens.append((fields[0], fields[1], fields[2], fields[3]))
    if tokens:
        fail(f"{name}: the last sentence is not followed by a blank line.")
    ids = [sent_id for sent_id, _, _ in result]
    if len(set(ids)) != len(ids):
        fail(f"{name}: sentence ids are not unique.")
    return result


def ner_tokens(tokens, name, sent_id):
    """(form, IOB2 tag): UNER's columns are ID, FORM, tag, '-', annotator; IDs are plain word numbers."""
    words = []
    for index, (word_id, form, tag, _) in enumerate(tokens, start=1):
        if word_id != str(index):
            fail(f"{name}, sentence {sent_id}: token {index} has ID '{word_id}', expected {index}.")
        if tag not in NER_TAGS:
            fail(f"{name}, sentence {sent_id}: tag '{tag}' is not one of {sorted(NER_TAGS)}.")
        words.append((form, tag))
    return words


def pos_tokens(tokens, name, sent_id):
    """(form, UPOS) of the syntactic words. Multiword-token lines ('3-4') and empty nodes ('8.1') carry no UPOS of their
    own in UD: the words inside a multiword token do, so those are the ones kept."""
    words = []
    for word_id, form, _, upos in tokens:
        if "-" in word_id or "." in word_id:
            continue
        if word_id != str(len(words) + 1):
            fail(f"{name}, sentence {sent_id}: word ID '{word_id}', expected {len(words) + 1}.")
        if upos not in UPOS_TAGS:
            fail(f"{name}, sentence {sent_id}: UPOS '{upos}' is not one of the 17 UD tags.")
        words.append((form, upos))
    return words


def sample(items, seed, size):
    """The first `size` sentences ordered by SHA-256 of seed and sent_id: deterministic, with no runtime's RNG involved."""
    if len(items) < size:
        fail(f"Only {len(items)} sentences, expected at least {size}.")
    key = lambda s: hashlib.sha256(f"{seed}:{s[0]}".encode("utf-8")).hexdigest()
    return sorted(items, key=key)[:size]


def write(path, chosen):
    """ID, FORM and tag separated by tabs, '# sent_id' and '# text' before each sentence, a blank line after it. The ID
    column comes first, as in CoNLL-U, so that a token such as '#' never starts a line and reads as a comment."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for sent_id, text, words in chosen:
            f.write(f"# sent_id = {sent_id}\n# text = {text}\n")
            for index, (form, tag) in enumerate(words, start=1):
                if "\t" in form or "\n" in form or form == "":
                    fail(f"{path}: sentence {sent_id} has a form with a tab, a newline or nothing in it.")
                f.write(f"{index}\t{form}\t{tag}\n")
            f.write("\n")


def report(split, chosen, path):
    tags = {}
    for _, _, words in chosen:
        for _, tag in words:
            tags[tag] = tags.get(tag, 0) + 1
    tokens = sum(tags.values())
    counts = ", ".join(f"{t} {tags[t]}" for t in sorted(tags))
    print(f"{path}: {len(chosen)} sentences, {tokens} tokens, {os.path.getsize(path)} bytes; {counts}")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in SOURCES:
        sys.stderr.write("Usage: python3 samples/data/make_token_samples.py ner|pos <source repository> <output folder>\n")
        sys.exit(2)
    kind, repo, output = sys.argv[1:]
    source = SOURCES[kind]
    folder = os.path.join(output, source["folder"])
    os.makedirs(folder, exist_ok=True)
    to_words = ner_tokens if kind == "ner" else pos_tokens
    for split in ("train", "test"):
        name, blob = source[split]
        parsed = sentences(read_pinned(repo, source["commit"], name, blob), name)
        items = [(sent_id, text, to_words(tokens, name, sent_id)) for sent_id, text, tokens in parsed]
        chosen = sample(items, source["seed"], SIZES[split])
        path = os.path.join(folder, f"{split}.conll")
        write(path, chosen)
        report(split, chosen, path)


if __name__ == "__main__":
    main()
