#!/usr/bin/env python3
"""Makes the SQuAD-metric cross-check fixture that AnswerMetricReferenceTests reads (run once where transformers is installed):

    python3 tests/MLNetTuning.Tests/Data/squad-metric/make_fixture.py

Writes reference.json beside this script: predictions against gold answers (the first 60 questions of
samples/data/squad/test.tsv, each answer perturbed in a fixed way: case, punctuation, articles, white space, extra or
missing words, another answer from the file, Unicode dashes and quotes) with the exact match and F1 that Hugging Face's
copy of the official SQuAD evaluation computes (transformers.data.metrics.squad_metrics: compute_exact, compute_f1,
the best over the gold answers as its get_raw_scores does). Empty answers are left out: the v2 functions score two
empty answers 1 where the v1.1 script scores 0.
"""
import json
import os

from transformers.data.metrics.squad_metrics import compute_exact, compute_f1
import transformers

here = os.path.dirname(os.path.abspath(__file__))
repo = os.path.abspath(os.path.join(here, "..", "..", "..", ".."))
rows = open(os.path.join(repo, "samples", "data", "squad", "test.tsv"), encoding="utf-8").read().splitlines()[1:61]
answers = [r.split("\t")[2] for r in rows]

def perturb(i, answer):
    other = answers[(i * 7 + 3) % len(answers)]
    words = answer.split()
    kinds = [
        lambda: answer,
        lambda: answer.upper(),
        lambda: "The " + answer + ".",
        lambda: "  " + answer.replace(" ", "   ") + "  ",
        lambda: answer + " and more words",
        lambda: " ".join(words[:-1]) if len(words) > 1 else answer + "s",
        lambda: other,
        lambda: "an " + answer.lower() + "!",
        lambda: answer.replace("-", "\u2013").replace("'", "\u2019"),
        lambda: " ".join(reversed(words)),
        lambda: words[0] + " " + other,
        lambda: "(" + answer + ")",
    ]
    return kinds[i % len(kinds)]()

cases = []
for i, answer in enumerate(answers):
    golds = [answer] if i % 3 else [answer, answers[(i + 1) % len(answers)]]
    prediction = perturb(i, answer)
    if not prediction.strip():
        continue
    cases.append({"prediction": prediction, "golds": golds,
                  "exact": max(compute_exact(g, prediction) for g in golds),
                  "f1": max(compute_f1(g, prediction) for g in golds)})
with open(os.path.join(here, "reference.json"), "w", encoding="utf-8") as out:
    json.dump({"versions": {"transformers": transformers.__version__}, "cases": cases}, out, ensure_ascii=False, indent=1)
print(len(cases), "cases; mean exact", sum(c["exact"] for c in cases) / len(cases), "mean f1", sum(c["f1"] for c in cases) / len(cases))
