"""The run folder: its names, typed state, atomic files, and what a path given to a command is."""

import os
import socket

import pytest

from fmnist.errors import FmnistError
from fmnist.run_folder import RunFolder, RunState, list_runs, resolve_model_path


def make_run(runs_dir, name="lean_cnn", with_model=True) -> RunFolder:
    run = RunFolder.create(runs_dir, name)
    run.write_record({"config": {"model": name}})
    run.write_state(RunState(status="finished", epochs_done=3))
    if with_model:
        run.model_path.write_bytes(b"a model")
    return run


def test_create_makes_unique_folders_inside_the_runs_folder(tmp_path):
    first, second = RunFolder.create(tmp_path, "cnn"), RunFolder.create(tmp_path, "cnn")
    assert first.path != second.path and first.path.parent == second.path.parent == tmp_path
    assert first.plots.is_dir() and second.path.name.endswith("-cnn-2")


def test_state_round_trips_and_ignores_unknown_keys(tmp_path):
    run = make_run(tmp_path)
    run.write_state(RunState(status="running", epochs_done=2, checkpoint="checkpoints/e.keras"))
    here = {"pid": os.getpid(), "host": socket.gethostname()}  # a running state names its process
    expected = RunState(status="running", epochs_done=2, checkpoint="checkpoints/e.keras", **here)
    assert run.read_state() == expected
    run.state_path.write_text('{"status": "finished", "from_a_newer_version": 1}')
    assert run.read_state().status == "finished"
    assert RunFolder(tmp_path / "nothing").read_state().status == "unknown"


def test_history_round_trips(tmp_path):
    run = make_run(tmp_path)
    run.write_history({"loss": [0.5, 0.25], "val_accuracy": [0.8, 0.9]})
    assert run.read_history() == {"loss": [0.5, 0.25], "val_accuracy": [0.8, 0.9]}


def test_failure_and_interruption_are_recorded_with_their_stage(tmp_path):
    run = make_run(tmp_path)
    state = run.record_failure("evaluate", OSError(30, "Read-only file system", "/x/m.h5"))
    assert (state.status, state.stage, state.error) == (
        "failed",
        "evaluate",
        "/x/m.h5: read-only file system",
    )
    assert run.read_state() == state
    assert run.record_failure("train", KeyboardInterrupt()).status == "interrupted"


def test_leftovers_of_killed_saves_are_removed_and_nothing_else(tmp_path):
    run = make_run(tmp_path)
    left = [run.path / ".model.77.tmp.keras", run.plots / ".training_curves.png.tmp"]
    for path in left:
        path.write_bytes(b"half")
    assert sorted(run.remove_leftovers()) == sorted(left)
    assert run.model_path.is_file() and run.config_path.is_file()


def test_resolve_a_run_folder_a_model_file_and_mistakes(tmp_path):
    run = make_run(tmp_path / "runs")
    model, owner = resolve_model_path(run.path)
    assert model == run.model_path and owner.path == run.path
    model, owner = resolve_model_path(run.model_path)
    assert model == run.model_path and owner.path == run.path
    loose = tmp_path / "mine.keras"
    loose.write_bytes(b"x")
    assert resolve_model_path(loose) == (loose, None)
    with pytest.raises(FmnistError, match=r"a folder of runs, not a run folder; name one of its 1"):
        resolve_model_path(tmp_path / "runs")
    with pytest.raises(FmnistError, match="no such file or folder"):
        resolve_model_path(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FmnistError, match="no model.keras here"):
        resolve_model_path(tmp_path / "empty")


def test_list_runs_skips_what_is_not_a_run(tmp_path):
    run = make_run(tmp_path, with_model=False)
    (tmp_path / "notes").mkdir()
    assert [r.path for r in list_runs(tmp_path)] == [run.path]
    with pytest.raises(FmnistError, match="no such runs folder here; name yours with --runs-dir"):
        list_runs(tmp_path / "missing")
