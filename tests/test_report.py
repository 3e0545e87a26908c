"""The one-shot pipeline, its HTML report (in a real browser too) and the leaderboard."""

import json
import re
from html import escape

import pytest
from click.testing import CliRunner

from conftest import ARTIFACTS, make_arrays, write_folder
from fmnist.cli import main
from fmnist.data import download
from fmnist.reports.report import SECTIONS, build_report
from fmnist.reports.runs import leaderboard
from fmnist.run_folder import RunFolder

EXPECTED_FIGURES = 6 + 2 + 1 + 3  # exploration, curves and calibration, prediction grid, bars
THUMBNAIL = '<figure class="thumb"><img src="data:image/png;base64,'


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


@pytest.mark.slow
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
    timings = pipeline["timings_s"]  # the report's stage counted, and inside the total
    stages = [v for k, v in timings.items() if k != "total"]
    assert "report" in timings and timings["total"] >= sum(stages) - 0.01 * len(stages)
    assert "test accuracy" in output and "Report: " in output
    # no photo set here, none in the cache, a mirror that refuses: one line says so, no photos
    (line,) = [x for x in output.splitlines() if x.startswith("[photos]")]
    assert "not taught photos: cannot reach" in line and "fmnist data photos download" in line
    assert not (run_dir / "photos.json").exists()
    trained_in = json.loads((run_dir / "metrics.json").read_text())["trained_in"]
    assert trained_in in ("float32", "bfloat16") and f"images/s in {trained_in})" in output


@pytest.mark.slow
def test_report_has_every_section_and_embeds_every_image(pipeline_run):
    run_dir, _ = pipeline_run
    html = (run_dir / "report.html").read_text()
    for key, title in SECTIONS:
        assert f'<section id="{key}"><h2>{title}</h2>' in html
        assert f'href="#{key}"' in html
    thumbnails = html.count(THUMBNAIL)
    assert html.count('<img src="data:image/png;base64,') - thumbnails == EXPECTED_FIGURES
    assert thumbnails > 0 and "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external assets
    assert html.index('id="diagnosis"') < html.index('id="training"') < html.index('id="data"')
    assert "not in this run folder" not in html
    assert re.search(r"trained in</td><td[^>]*>(float32|bfloat16)<", html)


@pytest.mark.slow
def test_report_rebuilds_from_the_folder_alone(pipeline_run):
    run_dir, _ = pipeline_run
    before = (run_dir / "report.html").read_text()
    (run_dir / "report.html").unlink()
    result = CliRunner().invoke(main, ["report", str(run_dir)])
    assert result.exit_code == 0 and (run_dir / "report.html").read_text() == before
    assert build_report(run_dir) == before


@pytest.mark.slow
def test_report_renders_in_chromium(pipeline_run, browser):
    run_dir, _ = pipeline_run
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((run_dir / "report.html").as_uri())
    page.wait_for_load_state("load")
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    figures = [image for image in images if image[1] > 28]
    assert len(figures) == EXPECTED_FIGURES
    assert all(complete and width > 100 and height > 100 for complete, width, height in figures)
    assert page.locator("nav a").count() == len(SECTIONS)
    assert page.title().startswith("fmnist report")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()


def confusion_table(html: str) -> list[list[int]]:
    """The counts of the report's confusion table, row by row."""
    table = html[html.index('<table class="confusion">') :]
    table = table[table.index("<tbody>") : table.index("</table>")]
    rows = re.findall(r"<tr><th>[^<]*</th>(.*?)</tr>", table)
    return [[int(n) for n in re.findall(r">(\d+)<", row)] for row in rows]


@pytest.mark.slow
def test_report_confusion_table_counts_match_scikit_learn(pipeline_run):
    import numpy as np
    from sklearn.metrics import confusion_matrix

    from fmnist.artifacts import load_model
    from fmnist.data.dataset import load_dataset
    from fmnist.inference.answers import as_model_input, predict_probabilities

    run_dir, _ = pipeline_run
    data_dir = json.loads((run_dir / "pipeline.json").read_text())["data"]["folder"]
    data = load_dataset("folder", data_dir)
    predicted = predict_probabilities(
        load_model(run_dir / "model.keras"), as_model_input(data.test_images)
    ).argmax(axis=1)
    expected = confusion_matrix(data.test_labels, predicted, labels=range(10))
    assert np.array_equal(confusion_table((run_dir / "report.html").read_text()), expected)


@pytest.mark.slow
def test_report_confusion_cells_open_their_images(pipeline_run, browser):
    run_dir, _ = pipeline_run
    html = (run_dir / "report.html").read_text()
    counts = confusion_table(html)
    true, predicted = next(
        (i, j) for i, row in enumerate(counts) for j, n in enumerate(row) if n and i != j
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto((run_dir / "report.html").as_uri())
    panel = page.locator(f"#cell-{true}-{predicted}")
    assert not panel.is_visible()  # closed until its cell is clicked
    page.locator(f'table.confusion a[href="#cell-{true}-{predicted}"]').click()
    assert panel.is_visible()
    thumbs = panel.locator("img")
    assert thumbs.count() == min(counts[true][predicted], 12)
    sizes = panel.evaluate("p => Array.from(p.querySelectorAll('img')).map(i => i.naturalWidth)")
    assert set(sizes) == {28}
    assert "taken for" in panel.locator("h3").inner_text()
    assert page.locator(".cell:visible").count() == 1  # the other cells stay closed
    matrix = page.locator("table.confusion").bounding_box()
    assert 0 < matrix["y"] + matrix["height"] / 2 < 900  # the matrix is still on the screen
    page.close()


@pytest.mark.slow
def test_report_is_reasonably_small(pipeline_run):
    """One self-contained file: thumbnails, not full images, and its size said."""
    run_dir, _ = pipeline_run
    size = (run_dir / "report.html").stat().st_size
    print(f"report.html: {size / 1e6:.2f} MB")
    assert size < 3_000_000


@pytest.mark.slow
def test_leaderboard_reads_finished_and_interrupted_runs(tmp_path, pipeline_run):
    from conftest import make_arrays as arrays_of
    from fmnist.data.dataset import Dataset
    from fmnist.errors import FmnistError
    from fmnist.evaluation.evaluate import evaluate_run
    from fmnist.training.train import train
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
            "--page",
            str(tmp_path / "compare.html"),
        ],
    )
    assert compared.exit_code == 0 and out.read_bytes()[:4] == b"\x89PNG"
    assert "Config changes:" in compared.output and "Diagnosis" in compared.output
    assert re.search(r"model\s+\"mlp\"\s+\"mlp2\"", compared.output)  # what changed
    page = (tmp_path / "compare.html").read_text()
    assert "What changed" in page and page.count("Is it underfitting or overfitting?") == 1
    # by default, beside the first run: nothing written into the working folder
    plain = CliRunner().invoke(
        main, ["runs", "compare", *(str(tmp_path / "runs" / n) for n in names[:2])]
    )
    assert plain.exit_code == 0, plain.output
    beside = tmp_path / "runs" / f"compare-{names[0]}-{names[1]}"
    assert beside.with_suffix(".png").is_file() and beside.with_suffix(".html").is_file()


def test_report_and_leaderboard_do_not_load_tensorflow():
    """`fmnist report` and `fmnist runs` read files only: they start in a moment."""
    import subprocess
    import sys

    code = (
        "import sys, fmnist.reports.report, fmnist.reports.runs; print('tensorflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_report_escapes_what_the_run_folder_holds(tmp_path):
    from fmnist.reports.report import build_report
    from fmnist.run_folder import RunFolder, RunState

    run = RunFolder.create(tmp_path, "mlp")
    hostile = "<script>alert(1)</script>"
    run.write_record({"config": {"model": "mlp", "model_args": {"note": hostile}}})
    run.write_state(RunState(status="finished"))
    run.write_metrics({"model": hostile, "evaluation": {"test": {"accuracy": 0.5}}})
    page = build_report(run.path)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "test accuracy 50.00%" in page and "No exploration in this run" in page


def test_a_run_shows_itself_in_a_notebook(pipeline_run):
    from fmnist.reports.notebook import Run

    run_dir, _ = pipeline_run
    run = Run(run_dir)
    accuracy = RunFolder(run_dir).read_metrics().split("test").accuracy
    page = run._repr_html_()
    assert run_dir.name in page and f"{accuracy:.4f}" in page  # the headline
    findings = run.diagnosis
    assert all(escape(f["question"]) in page for f in findings)  # the diagnosis
    assert page.count('src="data:image/png;base64,') == 1  # the curves, inside the page
    assert len(findings) >= 10 and str(findings).count("\n") >= len(findings)
    evaluation = run.evaluation("test")
    assert f"{accuracy:.2%}" in evaluation._repr_html_()
    assert evaluation._repr_html_().count("data:image/png") == 2  # confusion and mistakes
    assert "no val2 evaluation" in repr(run.evaluation("val2"))
    frame = run.report()._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "&lt;html" in frame.lower()


def test_an_answer_shows_its_input_and_verdict(tmp_path):
    from conftest import built_model
    from fmnist.predict import Predictor

    predictor = Predictor(built_model("mlp"), unsure_below=0.99)
    images = make_arrays(20, 10)["test_images"][:1]
    (answer,) = predictor.answer(images, ["test[0]"])
    page = answer._repr_html_()
    assert "data:image/png;base64," in page and "not sure: looks most like" in page
    assert repr(answer).startswith("Answer('test[0]': not sure: looks most like")
    assert len(repr(answer)) < 120  # not the 28 x 28 pixels


def test_compare_draws_a_one_epoch_runs_points_in_the_captions_styles(tmp_path):
    from fmnist.reports.runs import compare_runs

    folders = []
    for name in ("a", "b"):
        run = RunFolder.create(tmp_path / "runs", name)
        run.write_record({"config": {"model": "mlp"}})
        run.write_history(
            {"loss": [0.5], "accuracy": [0.8], "val_loss": [0.4], "val_accuracy": [0.85]}
        )
        folders.append(run.path)
    figure = compare_runs(*folders)
    lines = [line for axis in figure.axes for line in axis.get_lines()]
    assert len(lines) == 8  # two runs x training, validation x accuracy, loss
    styles = {line.get_label().rsplit(" ", 1)[1]: line.get_linestyle() for line in lines}
    assert styles == {"training": "--", "validation": "-"}  # the caption: dashed, solid
    assert all(line.get_marker() == "o" for line in lines)  # one epoch: a visible point


@pytest.mark.slow
@pytest.mark.parametrize("width", [390, 1280])
def test_report_fits_the_screen_with_figures_at_their_own_shape(pipeline_run, browser, width):
    """A phone (390 px) and a laptop: nothing wider than the screen (on a phone each table
    row is a card, nothing scrolls sideways but the section links and the confusion matrix
    in their own boxes), and every figure drawn at its own aspect ratio, the training curves
    stacked on a phone."""
    run_dir, _ = pipeline_run
    page = browser.new_page(viewport={"width": width, "height": 844})
    page.goto((run_dir / "report.html").as_uri())
    page.wait_for_load_state("load")
    found = page.evaluate(
        """() => ({
        scroll: document.documentElement.scrollWidth,
        sections: Array.from(document.querySelectorAll('section, header, nav'))
            .map(s => s.getBoundingClientRect().right),
        tables: Array.from(document.querySelectorAll('table.cards'))
            .map(t => [t.getBoundingClientRect().right, t.scrollWidth - t.clientWidth]),
        figures: Array.from(document.images).filter(i => i.naturalWidth > 28).map(i => {
            const r = i.getBoundingClientRect();
            return [i.alt, i.naturalWidth / i.naturalHeight, r.width / r.height, r.width];
        }),
    })"""
    )
    page.close()
    assert found["scroll"] <= width
    assert max(found["sections"]) <= width
    assert len(found["tables"]) >= 5  # every table but the confusion matrix: cards on a phone
    assert all(right <= width and hidden <= 1 for right, hidden in found["tables"])
    for alt, natural, drawn, drawn_width in found["figures"]:
        assert abs(drawn / natural - 1) < 0.03, (alt, natural, drawn)
        assert drawn_width <= width
    curves = next(f for f in found["figures"] if f[0] == "Training curves")
    assert (curves[1] < 1) == (width < 640)  # one column on a phone, one row on a laptop


def test_the_first_screen_says_compared_with_what_and_what_next(pipeline_run):
    run_dir, _ = pipeline_run
    page = build_report(run_dir)
    diagnosis = page[page.index('id="diagnosis"') : page.index('id="metrics"')]
    assert "compared with 88.9% for the tutorial CNN" in diagnosis
    assert "95.0% for the best recipe, <code>fmnist train --model best_cnn</code>" in diagnosis
    assert (
        "<h3>Next</h3>" in diagnosis and f"<code>fmnist serve --model {run_dir}</code>" in diagnosis
    )
    assert "`" not in diagnosis  # commands set as code, not shown with their backquotes


def test_the_leaderboard_lists_a_sweeps_trials_when_asked(tmp_path):
    from fmnist.run_folder import Record, RunFolder, RunState

    def make(path):
        run = RunFolder(path)
        path.mkdir(parents=True)
        run.write_record(Record(config={"model": "mlp", "epochs": 1}))
        run.write_state(RunState(status="finished", epochs_done=1))

    make(tmp_path / "runs" / "plain")
    sweep = tmp_path / "runs" / "sweep-1"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text("{}")
    make(sweep / "trial-a")
    alone = CliRunner().invoke(main, ["runs", "--runs-dir", str(tmp_path / "runs")])
    both = CliRunner().invoke(main, ["runs", "--runs-dir", str(tmp_path / "runs"), "--sweeps"])
    assert alone.exit_code == both.exit_code == 0
    assert "sweep-1/trial-a" not in alone.output and "sweep-1/trial-a" in both.output
    assert "plain" in both.output and "photos" in both.output
