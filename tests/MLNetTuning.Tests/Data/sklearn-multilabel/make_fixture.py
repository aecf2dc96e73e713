#!/usr/bin/env python3
"""Makes the scikit-learn cross-check fixture that MultiLabelReferenceTests reads (run once where scikit-learn is installed):

    python3 tests/MLNetTuning.Tests/Data/sklearn-multilabel/make_fixture.py

Writes reference.json beside this script: 400 rows of gold and predicted label sets over 8 labels (drawn with a fixed
seed; label 6 is never gold and never predicted, label 7 is gold but never predicted, label 5 is predicted but never gold,
and some rows have no label at all), and what scikit-learn computes on them: micro and macro F1, subset accuracy, Hamming
loss, and each label's precision, recall, F1 and support (zero_division=0, scikit-learn's value for an empty division).
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

rng = np.random.default_rng(20261130)
rows, labels = 400, 8
gold_rate = np.array([0.5, 0.3, 0.15, 0.05, 0.02, 0.0, 0.0, 0.1])
gold = rng.random((rows, labels)) < gold_rate
# Predictions: mostly right, with label-specific slips; label 5 is predicted though never gold; 6 and 7 never predicted.
flip = rng.random((rows, labels)) < np.array([0.1, 0.15, 0.2, 0.3, 0.5, 0.0, 0.0, 1.0])
pred = np.where(flip, ~gold, gold)
pred[:, 5] = rng.random(rows) < 0.03
pred[:, 6] = False
pred[:, 7] = False
gold[:10] = False  # rows with no gold label
pred[5:15] = False  # rows with no prediction

p, r, f, s = precision_recall_fscore_support(gold, pred, average=None, zero_division=0)
reference = {
    "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
    "labels": [f"L{k}" for k in range(labels)],
    "gold": gold.astype(int).tolist(),
    "predicted": pred.astype(int).tolist(),
    "micro_f1": f1_score(gold, pred, average="micro", zero_division=0),
    "macro_f1": f1_score(gold, pred, average="macro", zero_division=0),
    "macro_f1_zero_division_1": f1_score(gold, pred, average="macro", zero_division=1),
    "subset_accuracy": accuracy_score(gold, pred),
    "hamming_loss": hamming_loss(gold, pred),
    "per_label": {"precision": p.tolist(), "recall": r.tolist(), "f1": f.tolist(), "support": s.tolist()},
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json"), "w") as out:
    json.dump(reference, out, indent=1)
print({k: v for k, v in reference.items() if k not in ("gold", "predicted")})
