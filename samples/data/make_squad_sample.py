#!/usr/bin/env python3
"""Builds the extractive question-answering sample (samples/data/squad/) from SQuAD v1.1 material.

    python3 samples/data/make_squad_sample.py <ermeba/jupiter_bert repo> samples/data

<repo> is a checkout or a bare git directory of github.com/ermeba/jupiter_bert; the two input files are read at the
pinned commit with `git show` and checked against their SHA-256, so the output is byte-identical on every run or the
script stops. Standard library only. See samples/data/squad/README.md.

- train: `train-v1.1.json` in that repository is the first 1,280,000 bytes of the official SQuAD v1.1
  train-v1.1.json (the copy was cut short); the 11 articles that are complete in it are used, the cut 12th is not.
- test: `xquad.en.json` is the English XQuAD set: 1,190 questions on 240 paragraphs of 48 articles of the official
  SQuAD v1.1 dev set, with one gold answer per question (XQuAD keeps one).

Whole paragraphs are sampled (a paragraph keeps all its questions), in the order of SHA-256 of a seed and the
paragraph's key, until the question count reaches the target.
"""

import hashlib
import json
import os
import subprocess
import sys

REPOSITORY = "ermeba/jupiter_bert"
COMMIT = "b893930d074202676d18923297ac38122dc623b8"
SOURCES = {
    "train": ("train-v1.1.json", "65d8563d3238e8c94b0a255fedbf9e4bda3202054348880ff9817c1952db6fa4", 1500),
    "test": ("xquad.en.json", "e4c57d1c9143aaa1c5d265ba5987a65f4e69528d2a98f29d6e75019b10344f29", 500),
}
SEED = "mlnettuning-squad-v1"
SEPARATOR = " ||| "


def read_source(repo, name, sha256):
    git_dir = repo if os.path.isdir(os.path.join(repo, "objects")) else os.path.join(repo, ".git")
    data = subprocess.run(["git", "--git-dir", git_dir, "show", f"{COMMIT}:{name}"], check=True,
                          capture_output=True).stdout
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        sys.exit(f"{name}: sha256 {actual}, expected {sha256} (commit {COMMIT} of {REPOSITORY})")
    return data.decode("utf-8")


def complete_articles(text):
    """The articles of a SQuAD file, also of one cut short: every article object that parses whole."""
    try:
        return json.loads(text)["data"]
    except json.JSONDecodeError:
        pass
    prefix = '{"data": ['
    if not text.startswith(prefix):
        sys.exit("train source does not start like a SQuAD file")
    decoder, articles, i = json.JSONDecoder(), [], len(prefix)
    while True:
        try:
            article, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            return articles
        articles.append(article)
        if text[i:i + 2] != ", ":
            return articles
        i += 2


def key(*parts):
    return hashlib.sha256(":".join((SEED,) + parts).encode("utf-8")).hexdigest()


def clean(s):
    # TSV cells: no tab, newline or carriage return (none occur in the sampled text; kept as a guard, 1 char for 1).
    return s.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def sample(articles, target):
    paragraphs = [(key(a["title"], str(j)), i, j) for i, a in enumerate(articles) for j in range(len(a["paragraphs"]))]
    chosen, count = set(), 0
    for _, i, j in sorted(paragraphs):
        if count >= target:
            break
        chosen.add((i, j))
        count += len(articles[i]["paragraphs"][j]["qas"])
    out = []
    for i, a in enumerate(articles):
        ps = [p for j, p in enumerate(a["paragraphs"]) if (i, j) in chosen]
        if ps:
            out.append({"title": a["title"], "paragraphs": ps})
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    repo, out_root = sys.argv[1], sys.argv[2]
    folder = os.path.join(out_root, "squad")
    os.makedirs(folder, exist_ok=True)
    for split, (name, sha256, target) in SOURCES.items():
        articles = complete_articles(read_source(repo, name, sha256))
        data = sample(articles, target)
        rows = []
        for a in data:
            for p in a["paragraphs"]:
                context = p["context"]
                for q in p["qas"]:
                    answers = q["answers"]
                    for ans in answers:
                        if context[ans["answer_start"]:ans["answer_start"] + len(ans["text"])] != ans["text"]:
                            sys.exit(f"{q['id']}: answer is not at answer_start")
                    texts = [ans["text"] for ans in answers] if split == "test" else [answers[0]["text"]]
                    rows.append((key(q["id"]), clean(q["question"]).strip(), clean(context),
                                 clean(SEPARATOR.join(texts)), str(answers[0]["answer_start"])))
        with open(os.path.join(folder, f"{split}.json"), "w", encoding="utf-8", newline="\n") as f:
            json.dump({"data": data, "version": "1.1"}, f)
            f.write("\n")
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8", newline="\n") as f:
            f.write("Question\tContext\tAnswer\tAnswerStart\n")
            for row in sorted(rows):
                f.write("\t".join(row[1:]) + "\n")
        questions = len(rows)
        print(f"{split}: {len(articles)} source articles, {len(data)} sampled articles, "
              f"{sum(len(a['paragraphs']) for a in data)} paragraphs, {questions} questions")


if __name__ == "__main__":
    main()
