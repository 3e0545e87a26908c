"""Where a training step's time goes: oneDNN's own timing of every primitive it runs.

    python bench/training_profile.py                       # the default recipe, float32
    python bench/training_profile.py --model cnn --batch-size 32 --precision bfloat16

Runs the model's training step on random pixels in two child processes: one plain, for the
step time, and one with ONEDNN_VERBOSE=1 (oneDNN then prints each primitive it executes with
its time), whose times are added up by primitive and pass (forward, backward data, backward
weights) and given as shares of that child's own step. What oneDNN does not run
(TensorFlow's own element-wise kernels: bias, ReLU, batch norm, dropout; the optimizer; the
step's overhead) is the rest. Logging every primitive slows the step, and step times on a
shared 2-core machine vary by +-25% from run to run: read the shares, not single numbers.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import time

MARK = "PROFILE-START"


def child(model_name: str, batch_size: int, steps: int, precision: str) -> None:
    """Runs in the child: warm up, print MARK, train `steps` steps, print the wall time."""
    import keras
    import numpy as np

    from fmnist.training.models import create_model
    from fmnist.training.precision import dtype_policy

    keras.utils.set_random_seed(0)
    with dtype_policy(precision):
        model = create_model(model_name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size * steps, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, batch_size * steps)
    model.fit(x[: 5 * batch_size], y[: 5 * batch_size], batch_size=batch_size, verbose=0)
    print(MARK, flush=True)
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, verbose=0)
    print(f"STEP-MS {(time.perf_counter() - started) * 1000 / steps:.3f}", flush=True)


def summarize(output: str, steps: int) -> tuple[float, collections.Counter]:
    """(ms per step, Counter of ms per step by (primitive, pass)) from the verbose log."""
    per_kind, step_ms = collections.Counter(), 0.0
    for line in output.split(MARK, 1)[-1].splitlines():
        if line.startswith("STEP-MS"):
            step_ms = float(line.split()[1])
        fields = line.split(",")
        if fields[0] == "onednn_verbose" and "exec" in fields:
            at = fields.index("exec")
            primitive, direction = fields[at + 2], fields[at + 4]
            per_kind[(primitive, direction)] += float(fields[-1]) / steps
    return step_ms, per_kind


def main() -> None:
    from fmnist.training.config import PRECISIONS
    from fmnist.training.models import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=60, help="Steps measured (60).")
    parser.add_argument("--precision", choices=PRECISIONS[1:], default="float32")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.model, args.batch_size, args.steps, args.precision)
    from common import write_result
    from fmnist.machine import flags_line

    def run_child(verbose: str) -> str:
        environment = {**os.environ, "ONEDNN_VERBOSE": verbose, "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [sys.executable, __file__, "--child", *sys.argv[1:]]
        return subprocess.run(
            command, env=environment, capture_output=True, text=True, check=True
        ).stdout

    plain_ms, _ = summarize(run_child("0"), args.steps)
    step_ms, per_kind = summarize(run_child("1"), args.steps)
    print(flags_line())
    print(
        f"{args.model}, batch {args.batch_size}, {args.precision}: {plain_ms:.1f} ms a step "
        f"({args.batch_size * 1000 / plain_ms:,.0f} images/s); {step_ms:.1f} ms with oneDNN's "
        "timing on, shared out as:"
    )
    rows = [
        {"primitive": p, "pass": d, "ms_per_step": round(ms, 2), "share": round(ms / step_ms, 3)}
        for (p, d), ms in per_kind.most_common()
    ]
    rows.append(
        {
            "primitive": "everything else",
            "pass": "",
            "ms_per_step": round(step_ms - sum(per_kind.values()), 2),
            "share": round(1 - sum(per_kind.values()) / step_ms, 3),
        }
    )
    for row in rows:
        print(
            f"  {row['primitive']:<16} {row['pass']:<18} {row['ms_per_step']:>7.1f} ms  "
            f"{100 * row['share']:>5.1f}%"
        )
    write_result(
        "training_profile",
        {
            "model": args.model,
            "batch_size": args.batch_size,
            "precision": args.precision,
            "step_ms": plain_ms,
            "logged_step_ms": step_ms,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
