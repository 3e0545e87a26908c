"""The one-shot pipeline, its HTML report (in a real browser too) and the leaderboard."""

import json
import re

import pytest
from click.testing import CliRunner

from conftest import ARTIFACTS, make_arrays, write_folder
from fmnist import download
from fmnist.cli import main
from fmnist.report import SECTIONS, build_report
from fmnist.runs import leaderboard

EXPECTED_IMAGES = 6 + 4 + 1 + 3  # exploration, run plots, prediction grid, three bar charts


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """`fmnist run` end to end on tiny synthetic data (its MD5s made the published ones)."""
    root = tmp_path_factory.mktemp("pipeline")
    folder = write_folder(root / "data", make_arrays(200, 60))
    published = download.MD5
    download.MD5 = {name: download.md5_file(folder / name) for name in published}
    try:
        result = CliRunner().invoke(
            main,
            [
                "run",
                "--model",
                "mlp",
                "--epochs",
                "2",
                "--data-dir",
                str(folder),
                "--runs-dir",
                str(root / "runs"),
            ],
        )
    finally:
        download.MD5 = published
    assert result.exit_code == 0, result.output
    (run_dir,) = (root / "runs").iterdir()
    return run_dir, result.output


def test_pipeline_writes_every_artifact(pipeline_run):
    run_dir, output = pipeline_run
    for name in (
        "config.json",
        "history.csv",
        "metrics.json",
        "pipeline.json",
        "report.html",
        "model.keras",
        "model.h5",
        "model.pkl",
        "explore/stats.json",
        "plots/training_curves.png",
        "plots/confusion_matrix_test.png",
        "plots/misclassified_test.png",
        "plots/reliability_test.png",
        "predictions/grid.png",
        "confusion_matrix_test.csv",
        "per_class_test.csv",
    ):
        assert (run_dir / name).is_file(), name
    pipeline = json.loads((run_dir / "pipeline.json").read_text())
    assert [s["file"] for s in pipeline["saved"]] == ["model.keras", "model.h5", "model.pkl"]
    assert all(s["ok"] and s["label_agreement"] == 1.0 for s in pipeline["saved"])
    assert all(f["ok"] for f in pipeline["data"]["files"])
    assert len(pipeline["predictions"]) == 15
    assert "test accuracy" in output and "Report: " in output
    trained_in = json.loads((run_dir / "metrics.json").read_text())["trained_in"]
    assert trained_in in ("float32", "bfloat16") and f"images/s in {trained_in})" in output


def test_report_has_every_section_and_embeds_every_image(pipeline_run):
    run_dir, _ = pipeline_run
    html = (run_dir / "report.html").read_text()
    for key, title in SECTIONS:
        assert f'<section id="{key}"><h2>{title}</h2>' in html
        assert f'href="#{key}"' in html
    assert html.count('<img src="data:image/png;base64,') == EXPECTED_IMAGES
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets
    assert "not in this run folder" not in html
    assert re.search(r"trained in</td><td[^>]*>(float32|bfloat16)<", html)


def test_report_rebuilds_from_the_folder_alone(pipeline_run):
    run_dir, _ = pipeline_run
    before = (run_dir / "report.html").read_text()
    (run_dir / "report.html").unlink()
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 0 and (run_dir / "report.html").read_text() == before
    assert build_report(run_dir) == before


def test_report_renders_in_chromium(pipeline_run, browser):
    run_dir, _ = pipeline_run
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((run_dir / "report.html").as_uri())
    page.wait_for_load_state("load")
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == EXPECTED_IMAGES
    assert all(complete and width > 100 and height > 100 for complete, width, height in images)
    assert page.locator("nav a").count() == len(SECTIONS)
    assert page.title().startswith("fmnist report")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()


def test_leaderboard_reads_finished_and_interrupted_runs(tmp_path, pipeline_run):
    from conftest import make_arrays as arrays_of
    from fmnist.data import Dataset
    from fmnist.errors import FmnistError
    from fmnist.evaluate import evaluate_run
    from fmnist.train import train
    from test_train import InterruptAfter, config

    a = arrays_of(160, 40, seed=3)
    tiny = Dataset(a["train_images"], a["train_labels"], a["test_images"], a["test_labels"])
    for model, epochs in (("mlp", 2), ("cnn", 1)):  # training, then the one evaluation
        evaluate_run(train(config(tmp_path, model=model, epochs=epochs), tiny), tiny)
    with pytest.raises(FmnistError, match="interrupted after 1 finished epochs"):
        train(config(tmp_path, model="mlp2", epochs=3), tiny, extra_callbacks=[InterruptAfter(1)])
    rows = leaderboard(tmp_path / "runs")
    assert [r["status"] for r in rows] == ["finished", "finished", "interrupted"]
    assert rows[0]["test_accuracy"] >= rows[1]["test_accuracy"]
    assert rows[2]["model"] == "mlp2" and rows[2]["epochs"] == 1 and rows[2]["val_accuracy"]
    result = CliRunner().invoke(main, ["runs", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0 and "interrupted" in result.output and "1/3" in result.output
    names = [r["name"] for r in rows]
    out = tmp_path / "compare.png"
    compared = CliRunner().invoke(
        main,
        [
            "runs",
            "compare",
            str(tmp_path / "runs" / names[0]),
            str(tmp_path / "runs" / names[2]),
            "--out",
            str(out),
        ],
    )
    assert compared.exit_code == 0 and out.read_bytes()[:4] == b"\x89PNG"


def test_report_and_leaderboard_do_not_load_tensorflow():
    """`fmnist report` and `fmnist runs` read files only: they start in a moment."""
    import subprocess
    import sys

    code = "import sys, fmnist.report, fmnist.runs; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_report_escapes_what_the_run_folder_holds(tmp_path):
    from fmnist.report import build_report
    from fmnist.run_folder import RunFolder, RunState

    run = RunFolder.create(tmp_path, "mlp")
    hostile = "<script>alert(1)</script>"
    run.write_record({"config": {"model": "mlp", "model_args": {"note": hostile}}})
    run.write_state(RunState(status="finished"))
    run.write_metrics({"model": hostile, "evaluation": {"test": {"accuracy": 0.5}}})
    page = build_report(run.path)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "test accuracy 50.00%" in page and "No exploration in this run" in page
