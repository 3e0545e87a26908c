"""The notebooks in examples/ run top to bottom as a reader runs them, and cannot rot: every
fmnist name they import exists, every cell runs, figures and answers show inline, progress
comes as lines, not a terminal's carriage returns."""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "photos-dev"

nbformat = pytest.importorskip("nbformat", reason="the [notebook] extra runs the notebooks")


def code_cells(path: Path) -> list[str]:
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def fmnist_imports(source: str):
    """(module, name) for each `from fmnist... import name` in a cell (magics left out)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fmnist"):
            yield from ((node.module, alias.name) for alias in node.names)


def test_there_is_a_tutorial_notebook():
    assert EXAMPLES / "tutorial.ipynb" in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_fmnist_name_a_notebook_imports_exists(path):
    imported = [pair for source in code_cells(path) for pair in fmnist_imports(source)]
    assert imported, "a notebook of fmnist's API imports from fmnist"
    for module, name in imported:
        assert hasattr(importlib.import_module(module), name), f"{module}.{name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_outputs_are_committed(path):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_a_notebook_runs_top_to_bottom(path, tmp_path, real_data_dir, monkeypatch):
    """Executed by Jupyter's own runner in a kernel of this environment, in a scratch folder
    (runs and figures land there); a failing cell fails the test."""
    from nbclient import NotebookClient

    monkeypatch.setenv("FMNIST_DATA_DIR", str(real_data_dir))
    monkeypatch.setenv("FMNIST_NOTEBOOK_EPOCHS", "1")
    if PHOTOS.is_dir():
        monkeypatch.setenv("FMNIST_PHOTOS", str(PHOTOS))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [out for cell in notebook.cells for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.output_type == "error"]
    shown = {kind for out in outputs for kind in out.get("data", {})}
    assert {"image/png", "text/html"} <= shown  # figures and fmnist's objects, inline
    streams = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "\r" not in streams  # progress as lines, the notebook way
    assert "epoch 1/1" in streams
    assert (tmp_path / "runs").is_dir() and not (path.parent / "runs").exists()
    # everything it writes goes under runs/ (ignored by git), nothing beside the notebook
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"], list(tmp_path.iterdir())


def test_the_extra_the_readme_names_for_jupyter_installs_jupyter():
    import re

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    readme = (ROOT / "README.md").read_text()
    extra = re.search(r'pip install -e "\.\[(\w+)\]"`, then\s+`\.venv/bin/jupyter notebook', readme)
    assert extra, "the README names the extra that opens the notebook"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(d.startswith("notebook>=") for d in extras[extra.group(1)])
