"""The examples in the module docstrings run: each module's `>>>` lines are run as doctests
(an example that needs a trained run, a server or the network says so with
`# doctest: +SKIP` and is read, not run)."""

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES = sorted(
    ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    for p in (SRC / "fmnist").rglob("*.py")
    if p.name != "__main__.py"
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_the_module_docstrings_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes, writes here
    module = importlib.import_module(name)
    examples = doctest.DocTestParser().get_doctest(
        module.__doc__ or "", dict(vars(module)), name, name, 0
    )
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(examples)
    failed, tried = runner.summarize(verbose=False)
    assert failed == 0, f"{name}: {failed} of {tried} docstring examples failed"


RUNNING_AT_LEAST = 30  # modules whose docstring runs an example: a floor that only rises


def test_the_docstrings_that_run_their_examples_do_not_dwindle():
    """Read-only examples (a trained run, a server, the network) are the exception."""
    parser = doctest.DocTestParser()
    running = 0
    for name in MODULES:
        docstring = importlib.import_module(name).__doc__ or ""
        if any("+SKIP" not in e.source for e in parser.get_examples(docstring)):
            running += 1
    assert running >= RUNNING_AT_LEAST, f"only {running} of {len(MODULES)} modules' examples run"
