"""One runner of stages: what a run is asked for is recorded before training, each stage
as it ends; a failed stage is recorded and resumed from, without training again."""

import pytest
from click.testing import CliRunner

from conftest import make_arrays, photo_folder, write_folder
from fmnist.cli import main
from fmnist.run_folder import Run
from fmnist.stages import STAGES, TRAIN_STAGES, run_stages
from fmnist.training.config import make_config


def test_stages_are_known_and_in_one_order():
    assert STAGES.index("train") < STAGES.index("photos") < STAGES.index("report")
    with pytest.raises(ValueError, match="unknown stages"):
        run_stages(make_config({}), ("train", "deploy"))


@pytest.mark.slow
def test_a_failed_stage_is_recorded_and_resumed_without_training_again(tmp_path, monkeypatch):
    data = write_folder(tmp_path / "data", make_arrays(200, 40))
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))
    photos = photo_folder(tmp_path / "photos", {"t-shirt": 6, "hat": 6})
    (photos / "t-shirt" / "broken.jpg").write_bytes(b"\xff\xd8 not a whole jpeg")
    flags = ["--model", "mlp", "--epochs", "1", "--data-dir", str(data)]
    failed = CliRunner().invoke(
        main, ["train", *flags, "--runs-dir", str(tmp_path / "runs"), "--photos", str(photos)]
    )
    assert failed.exit_code == 1 and "broken.jpg: not a readable image" in failed.output
    (folder,) = (tmp_path / "runs").iterdir()
    run = Run.load(folder)
    assert (run.state.status, run.state.stage) == ("failed", "photos")
    assert run.state.trained and run.state.stages_left == ["photos", "evaluate", "report", "track"]
    history = run.folder.history_path.read_text()
    # the photo fixed, the run goes on from the stage that failed
    from PIL import Image

    Image.new("RGB", (40, 60), (200, 30, 30)).save(photos / "t-shirt" / "broken.jpg")
    resumed = CliRunner().invoke(main, ["train", "--resume", str(folder)])
    assert resumed.exit_code == 0, resumed.output
    assert "[train]" not in resumed.output and "[photos] done" in resumed.output
    run = Run.load(folder)
    assert run.state.status == "finished" and run.state.stages_done == list(TRAIN_STAGES[1:])
    assert run.folder.history_path.read_text() == history  # no epoch trained again
    assert run.photos is not None and run.metrics.split("test") is not None
    assert run.folder.report_path.is_file()
    # the diagnosis says its curves are training's, before the photos were learned
    from fmnist.evaluation.diagnosis import diagnose

    (fit,) = [f for f in diagnose(run) if f["key"] == "fit"]
    assert "before photo learning (validation after it: " in fit["evidence"]
