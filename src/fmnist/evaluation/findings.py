"""A diagnosis's parts: the questions, every rule's threshold, and a finding's shape.

    >>> found = finding("fit", "attention", "Overfitting from epoch 7.", kind="overfitting")
    >>> found["question"], found["kind"]
    ('Is it underfitting or overfitting?', 'overfitting')

A finding carries a `kind` (what was found: "overfitting", "underfitting", ...) for the
rules that follow from another's answer, so none of them reads another's sentence.
"""

from __future__ import annotations

# Every threshold of every rule, in one place (docs/training.md repeats this table).
RULES = {
    "rising_epochs": 3,  # overfitting: validation loss above its minimum this many epochs ...
    "rising_margin": 0.02,  # ... and ending this fraction above it, while training loss fell
    "gap": 0.05,  # overfitting: training accuracy above validation by more (5 points)
    "train_accuracy": 0.90,  # underfitting: training accuracy below this at the last epoch
    "still_rising": 0.002,  # constant rate: both accuracies gained this much over 2 epochs
    "spike": 1.25,  # unstable rate: an epoch's training loss 25% above the previous one
    "wasted_fraction": 0.3,  # wasted epochs: best epoch this share of the run before the end
    "wasted_minimum": 3,  # ... and at least this many epochs
    "weak_margin": 0.05,  # a weak class: recall this far below the overall accuracy
    "weak_pair_rate": 0.02,  # a pair worth naming: this share of the class taken for another
    "ece": 0.03,  # calibration: expected calibration error above this
    "balance": 1.5,  # balanced: the largest class at most this many times the smallest
    "photo_lag": 0.05,  # photos lag: held-out photos' top-1 this far below the test accuracy
}

MARKS = {"ok": "ok", "attention": "!!", "unknown": "? "}  # a verdict in the terminal

# What a run's accuracy is compared with: the test accuracy of fmnist's own runs of the
# tutorial CNN and its recipes, float32 on a 2-core CPU (docs/benchmarks.md, with the
# command that measured each).
REFERENCES = (
    ("the tutorial CNN as the tutorials train it (2 epochs)", 0.8889),
    ("the default recipe, `fmnist train`", 0.9356),
    ("the best recipe, `fmnist train --model best_cnn`", 0.9505),
)

QUESTIONS = {
    "balance": "Are the classes balanced?",
    "normalise": "Do I need to normalise?",
    "fit": "Is it underfitting or overfitting?",
    "capacity": "Is the model too simple or too complex?",
    "learning_rate": "Is the learning rate right?",
    "epochs": "Are the epochs and batch size right?",
    "accuracy": "What is the accuracy; any class-specific weaknesses?",
    "loss": "Which loss is which?",
    "calibration": "Are its probabilities trustworthy?",
    "reload": "Does the reloaded model give the same results?",
    "test_set": "Did model choice see the test set?",
    "photos": "How does it do on people's photos?",
}


def finding(key, verdict, answer, evidence="", suggestion=None, kind=None) -> dict:
    return {
        "key": key,
        "kind": kind or verdict,  # what was found; the verdict where nothing more is said
        "question": QUESTIONS[key],
        "verdict": verdict,  # ok | attention | unknown
        "answer": answer,
        "evidence": evidence,
        "suggestion": suggestion,
    }


def pct(value: float) -> str:
    return f"{100 * value:.1f}%"
