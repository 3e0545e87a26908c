"""Sweeps on Ray Tune: the sweep file's checks, a local sweep, ASHA, a two-node cluster,
an interrupted sweep resumed, and repeats. Ray is an optional extra: without it the
file checks still run and the rest skips (CI installs it)."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_arrays, write_folder
from fmnist.cli import main
from fmnist.run_folder import RunFolder, list_runs
from fmnist.sweeps.spec import load_repeat, load_sweep, parse_sweep, trial_config
from fmnist.training.config import ConfigError

ISSUE_EXAMPLE = """
model = "mlp"
trials = 2            # samples of the space
epochs = 1            # per trial (ASHA may stop a trial sooner)
[space]
learning_rate = { loguniform = [0.0005, 0.005] }
# batch_size = { choice = [128, 256] }   dropout = { uniform = [0.1, 0.5] }
"""


def write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_issue_example_parses_as_written(tmp_path):
    spec = load_sweep(write(tmp_path, ISSUE_EXAMPLE))
    assert (spec.model, spec.trials, spec.epochs, spec.metric) == ("mlp", 2, 1, "val_accuracy")
    assert spec.space["learning_rate"].kind == "loguniform"
    assert spec.space["learning_rate"].values == (0.0005, 0.005)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('model = "mlp"\ntrails = 2', "unknown key 'trails'"),
        (
            'model = "mlp"\n[space]\nlearning_rate = { uniform = [0.01, 0.01] }',
            "space.learning_rate.uniform: empty range",
        ),
        ('model = "mlp"\n[space]\nlearning_rate = { loguniform = [0, 0.1] }', "must be positive"),
        (
            'model = "mlp"\nmetric = "test_accuracy"',
            "metric: 'test_accuracy' is not one of val_accuracy, val_loss "
            "(the test set never chooses a model)",
        ),
        (
            'model = "mlp"\n[space]\nlearning_rat = { choice = [0.1] }',
            "space.learning_rat: not a TrainConfig field",
        ),
        ('model = "mlp"\n[space]\nepochs = { choice = [1, 2] }', "space.epochs: set by the sweep"),
        (
            'model = "mlp"\n[space]\nmodel_args.width = { choice = [1] }',
            "space.model_args.width: mlp has no argument 'width' (it has: units)",
        ),
        ('model = "mlp"\n[space]\nshift = { uniform = [0, 3] }', "shift: expected a valid integer"),
        (
            'model = "mlp"\n[space]\nlearning_rate = { normal = [0, 1] }',
            "space.learning_rate: unknown distribution 'normal'",
        ),
        (
            'model = "mlp"\n[space]\nlearning_rate = { choice = [] }',
            "space.learning_rate.choice: expected a non-empty list",
        ),
        ("trials = 2", "model: missing"),
        ('model = "mlp"\ntrials = 0', "trials: must be at least 1, got 0"),
    ],
)
def test_a_bad_sweep_file_is_a_one_line_error_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as error:
        load_sweep(write(tmp_path, text))
    assert message in str(error.value) and "\n" not in str(error.value)
    result = CliRunner().invoke(main, ["sweep", "--config", str(tmp_path / "sweep.toml")])
    assert result.exit_code == 1 and message in result.output


def test_trial_configs_layer_recipe_fixed_values_and_samples(tmp_path):
    spec = parse_sweep(
        {
            "model": "lean_cnn",
            "epochs": 2,
            "config": {"batch_size": 64},
            "space": {
                "model_args.dropout": {"uniform": [0.1, 0.5]},
                "learning_rate": {"loguniform": [1e-4, 1e-2]},
            },
        }
    )
    config = trial_config(spec, {"model_args.dropout": 0.3, "learning_rate": 0.002}, "runs")
    assert (config.model, config.epochs, config.batch_size, config.learning_rate) == (
        "lean_cnn",
        2,
        64,
        0.002,
    )
    assert config.model_args == {"dropout": 0.3} and config.flip  # the recipe's flip stays


def test_repeat_takes_a_training_config_or_a_sweep_without_space(tmp_path):
    spec = load_repeat(write(tmp_path, 'model = "fast_cnn"\nlearning_rate = 0.004\n', "best.toml"))
    # the recipe's fractional epochs are a sweep's too
    assert (spec.model, spec.epochs, spec.config) == ("fast_cnn", 0.7, {"learning_rate": 0.004})
    with pytest.raises(ConfigError, match="--repeat trains one config"):
        load_repeat(write(tmp_path, ISSUE_EXAMPLE))


def test_without_ray_the_sweep_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(main, ["sweep", "--config", str(write(tmp_path, ISSUE_EXAMPLE))])
    assert result.exit_code == 1
    assert (
        'fmnist sweep needs Ray Tune, an optional extra: pip install -e ".[sweep]"' in result.output
    )


def test_the_rest_of_fmnist_never_imports_ray():
    code = "import sys, fmnist.cli, fmnist.sweeps.runner, fmnist.sweeps.spec; "
    code += "print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# --- on Ray ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_module():
    return pytest.importorskip("ray", reason="Ray Tune is the optional [sweep] extra")


@pytest.fixture(scope="module")
def sweep_data(tmp_path_factory):
    """Tiny data an MLP learns within an epoch or two: each class lights its own two rows."""
    arrays = make_arrays(600, 200)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"] // 4, arrays[f"{split}_labels"]
        for k, label in enumerate(labels):
            images[k, 2 * label : 2 * label + 2] = 220
        arrays[f"{split}_images"] = images
    return write_folder(tmp_path_factory.mktemp("sweepdata") / "data", arrays)


@pytest.fixture(scope="module")
def local_ray(ray_module):
    ray_module.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray_module
    ray_module.shutdown()


def sweep(tmp_path, data, text, *args):
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            "--config",
            str(write(tmp_path, text)),
            "--data-dir",
            str(data),
            "--runs-dir",
            str(tmp_path / "runs"),
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    (sweep_dir,) = (tmp_path / "runs").iterdir()
    return sweep_dir, result.output


def leaderboard(sweep_dir):
    with open(sweep_dir / "leaderboard.csv") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_a_tiny_sweep_makes_run_folders_and_a_leaderboard(tmp_path, local_ray, sweep_data):
    text = 'model = "mlp"\ntrials = 3\nepochs = 1\n'
    text += "[space]\nlearning_rate = { loguniform = [0.001, 0.01] }\n"
    sweep_dir, output = sweep(tmp_path, sweep_data, text)
    runs = list_runs(sweep_dir)
    assert len(runs) == 3 and all(r.read_state().status == "finished" for r in runs)
    rows = leaderboard(sweep_dir)
    assert len(rows) == 3
    accuracies = [float(r["val_accuracy"]) for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)  # best first, by validation
    assert rows[0]["test_accuracy"] and not any(r["test_accuracy"] for r in rows[1:])
    rates = {float(r["learning_rate"]) for r in rows}
    assert len(rates) == 3 and all(0.001 <= x <= 0.01 for x in rates)
    best = RunFolder(sweep_dir / rows[0]["trial"])
    assert (best.path / "report.html").is_file() and best.read_metrics().split("test") is not None
    # the best config is a ready training config with the best trial's values
    trained = CliRunner().invoke(
        main, ["train", "--config", str(sweep_dir / "best.toml"), "--help"]
    )
    assert trained.exit_code == 0
    from fmnist.training.config import resolve_config

    assert resolve_config(sweep_dir / "best.toml").learning_rate == float(rows[0]["learning_rate"])
    # chosen at the sweep's 1 epoch a trial, it trains the recipe's own epochs, and says so
    assert resolve_config(sweep_dir / "best.toml").epochs == resolve_config(model="mlp").epochs
    assert "chosen at 1 epochs a trial" in (sweep_dir / "best.toml").read_text()
    assert (sweep_dir / "parameters.png").read_bytes()[:4] == b"\x89PNG"
    assert "best: " in output and "measured once, after the choice" in output
    listed = CliRunner().invoke(main, ["runs", "--runs-dir", str(sweep_dir)])
    assert listed.exit_code == 0 and listed.output.count("trial-") == 3


@pytest.mark.slow
def test_asha_stops_a_hopeless_trial_early(tmp_path, local_ray, sweep_data):
    """One trial at a time: a good rate first, then one too small to learn anything; at the
    first rung the second is below the first, and ASHA stops it."""
    text = (
        'model = "mlp"\ntrials = 1\nepochs = 3\nmax_concurrent = 1\ngrace_period = 1\n'
        "[space]\nlearning_rate = { grid = [0.003, 0.0000001] }\n"
    )
    sweep_dir, output = sweep(tmp_path, sweep_data, text)
    rows = {float(r["learning_rate"]): r for r in leaderboard(sweep_dir)}
    assert rows[0.003]["status"] == "finished" and rows[0.003]["epochs"] == "3"
    assert rows[1e-7]["status"] == "stopped by ASHA" and int(rows[1e-7]["epochs"]) < 3
    stopped = RunFolder(sweep_dir / rows[1e-7]["trial"])
    assert stopped.read_metrics().stopped_by == "asha" and stopped.report_path.is_file()
    assert json.loads((sweep_dir / "summary.json").read_text())["stopped_by_asha"] == 1


@pytest.mark.slow
def test_repeat_gives_mean_and_spread_of_test_accuracy(tmp_path, local_ray, sweep_data):
    sweep_dir, output = sweep(tmp_path, sweep_data, 'model = "mlp"\nepochs = 1\n', "--repeat", "2")
    summary = json.loads((sweep_dir / "summary.json").read_text())
    seeds = sorted(RunFolder(r.path).read_config_values()["seed"] for r in list_runs(sweep_dir))
    assert seeds == [0, 1] and len(summary["test_accuracies"]) == 2
    import statistics

    assert summary["test_accuracy_mean"] == pytest.approx(
        statistics.mean(summary["test_accuracies"])
    )
    assert summary["test_accuracy_std"] == pytest.approx(
        statistics.stdev(summary["test_accuracies"])
    )
    assert "test accuracy over 2 seeds" in output


@pytest.mark.slow
def test_trials_land_on_both_nodes_of_a_two_node_cluster(tmp_path, two_node_cluster, sweep_data):
    text = 'model = "mlp"\ntrials = 1\nepochs = 1\n'
    text += "[space]\nlearning_rate = { grid = [0.001, 0.01] }\n"
    address = two_node_cluster.address
    sweep_dir, output = sweep(tmp_path, sweep_data, text, "--address", address)
    assert "2 CPUs on 2 node(s)" in output
    summary = json.loads((sweep_dir / "summary.json").read_text())
    assert len(summary["nodes"]) == 2  # one trial on each node
    nodes = {RunFolder(r.path).read_metrics().node for r in list_runs(sweep_dir)}
    assert nodes == set(summary["nodes"])


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_and_keeps_finished_trials(tmp_path, ray_module, sweep_data):
    if ray_module.is_initialized():
        ray_module.shutdown()
    text = (
        'model = "cnn"\ntrials = 1\nepochs = 3\nmax_concurrent = 1\n[config]\nbatch_size = 16\n'
        "[space]\nlearning_rate = { grid = [0.001, 0.002, 0.003] }\n"
    )
    command = [sys.executable, "-m", "fmnist", "sweep", "--config", str(write(tmp_path, text))]
    command += ["--data-dir", str(sweep_data), "--runs-dir", str(tmp_path / "runs")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    sweep_dir = None
    while time.monotonic() < deadline:  # until one trial finished and the next has begun
        found = list((tmp_path / "runs").glob("sweep-*"))
        if found:
            sweep_dir = found[0]
            states = [r.read_state() for r in list_runs(sweep_dir)]
            if any(s.status == "finished" for s in states) and len(states) >= 2:
                break
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the sweep never got going")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert f"resume with: fmnist sweep --resume {sweep_dir}" in output
    finished = [r for r in list_runs(sweep_dir) if r.read_state().status == "finished"]
    first_model = {r.path.name: r.model_path.stat().st_mtime_ns for r in finished}
    result = subprocess.run(
        [sys.executable, "-m", "fmnist", "sweep", "--resume", str(sweep_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    runs = list_runs(sweep_dir)
    assert len(runs) == 3 and all(r.read_state().status == "finished" for r in runs)
    for name, mtime in first_model.items():  # the finished trial was not trained again
        assert (sweep_dir / name / "model.keras").stat().st_mtime_ns == mtime
    assert len(leaderboard(sweep_dir)) == 3


def test_the_best_config_is_valid_toml_that_trains_the_same_config(tmp_path):
    import tomllib

    from fmnist.sweeps.spec import config_toml
    from fmnist.training.config import load_config_file, make_config

    config = make_config({"model": "mlp", "model_args": {"units": 64}, "photos": None})
    path = tmp_path / "best.toml"
    path.write_text(config_toml(config))
    values = load_config_file(path)
    assert make_config(values) == config and "null" not in path.read_text()
    assert tomllib.loads(path.read_text())["model_args"] == {"units": 64}
    trial = make_config({"model": "lean_cnn", "epochs": 3})
    path.write_text(config_toml(trial, chosen_at=3))
    assert load_config_file(path)["epochs"] == 7  # the recipe's, not the trial's
    assert path.read_text().startswith("# The best trial of a sweep, chosen at 3 epochs a trial")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"space": 5}, "space: expected a valid dictionary, got 5"),
        ({"config": [1, 2]}, "config: expected a valid dictionary"),
        ({"cpus_per_trial": "two"}, "cpus_per_trial: expected a valid number, got 'two'"),
        ({"time_limit_s": "soon"}, "time_limit_s: expected a valid number"),
        ({"seed": "abc"}, "seed: expected a valid integer"),
        ({"time_limit_s": -1}, "time_limit_s: must be above 0"),
        ({"time_limit_s": float("nan")}, "time_limit_s: must be a finite number"),
        ({"reduction_factor": 1}, "reduction_factor: must be at least 2"),
    ],
)
def test_a_sweep_file_value_of_the_wrong_type_or_range_is_one_line(extra, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_sweep({"model": "mlp", **extra})


@pytest.mark.slow
def test_a_sweep_runs_beside_another_ray_instance(ray_module, sweep_data):
    """A Ray that `ray start` began on this machine is left alone: the sweep starts its own,
    where plain ray.init() would try to join it and fail (its num_cpus refused there).
    RAY_TMPDIR keeps this instance's files (and the address file that plain ray.init()
    reads) in a folder of its own, short enough for Ray's socket paths."""
    folder = Path(tempfile.mkdtemp(prefix="fr", dir="/tmp"))
    env = {**os.environ, "RAY_TMPDIR": str(folder)}
    ray_bin = Path(sys.executable).with_name("ray")
    start = [str(ray_bin), "start", "--head", "--block", "--num-cpus=1"]
    other = subprocess.Popen(
        [*start, "--include-dashboard=false"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, ended as one below
    )
    try:
        address_file = folder / "ray" / "ray_current_cluster"
        while not address_file.is_file():
            assert other.poll() is None, "ray start failed"
            time.sleep(0.5)
        text = 'model = "mlp"\ntrials = 1\nepochs = 1\n[space]\nseed = { grid = [0] }\n'
        spec = write(folder, text)
        command = [sys.executable, "-m", "fmnist", "sweep", "--config", str(spec)]
        command += ["--data-dir", str(sweep_data), "--runs-dir", str(folder / "runs")]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert other.poll() is None  # the other instance still runs
        for notice in ("Token authentication", "Started a local Ray", "Wrote the latest"):
            assert notice not in result.stderr + result.stdout  # Ray's notices, not the user's
    finally:  # SIGTERM would drain the node for 30 s first
        os.killpg(other.pid, signal.SIGKILL)  # ray start and the processes it started
        other.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
