"""Every Python code block in the README and docs/ runs as written, in a folder laid out as
the docs assume (a run at runs/x, tracked in MLflow; shirt.jpg; a photos/ folder)."""

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks():
    for document in DOCUMENTS:
        for number, match in enumerate(BLOCK.finditer(document.read_text()), start=1):
            yield pytest.param(match.group(1), id=f"{document.name}-{number}")


def test_the_docs_have_python_blocks_to_run():
    assert len(list(python_blocks())) >= 3


@pytest.fixture(scope="module")
def laid_out(tmp_path_factory, real_data_dir):
    """The folder the snippets assume, with a tiny run trained on the real data."""
    mlflow = pytest.importorskip("mlflow", reason="the MLflow snippet needs the [mlflow] extra")
    from fmnist.cli import main

    folder = tmp_path_factory.mktemp("reader")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("FMNIST_DATA_DIR", str(real_data_dir))
        flags = ["--model", "mlp", "--epochs", "1", "--name", "x", "--mlflow"]
        result = CliRunner().invoke(main, ["train", *flags])
        assert result.exit_code == 0, result.output
    mlflow.set_tracking_uri(None)
    (made,) = (folder / "runs").iterdir()
    made.rename(folder / "runs" / "x")
    from fmnist.data import load_dataset

    test = load_dataset(data_dir=real_data_dir).test_images
    Image.fromarray(255 - test[1]).convert("RGB").save(folder / "shirt.jpg")
    (folder / "photos").mkdir()
    for k in range(3):
        Image.fromarray(255 - test[k]).convert("RGB").save(folder / "photos" / f"{k}.jpg")
    yield folder, uri
    shutil.rmtree(folder / "mlruns", ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("code", python_blocks())
def test_a_python_block_runs_as_written(code, laid_out, monkeypatch, real_data_dir):
    folder, uri = laid_out
    monkeypatch.chdir(folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("FMNIST_DATA_DIR", str(real_data_dir))
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<docs>", "exec"), {"__name__": "__docs__"})  # noqa: S102
