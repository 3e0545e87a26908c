"""Shared fixtures: tiny synthetic idx folders, the real data when present, loopback mirrors."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from fmnist.data import idx

NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def make_arrays(n_train: int = 60, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Balanced random labels and images whose brightness depends on the class."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 120, size=(n, 28, 28), dtype=np.uint8) + labels[:, None, None] * 13
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return arrays


def write_folder(folder: Path, arrays: dict[str, np.ndarray], gzipped: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in NAMES.items():
        idx.write_idx(folder / (name if gzipped else name.removesuffix(".gz")), arrays[key])
    return folder


def photo_folder(root: Path, counts: dict[str, int]) -> Path:
    """Labelled photo folders of small PNGs: a dark article on a noisy ground each."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for folder, count in counts.items():
        (root / folder).mkdir(parents=True)
        for k in range(count):
            pixels = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
            pixels[5:35, 5:25] = 30 + 20 * k
            Image.fromarray(pixels).save(root / folder / f"{k}.png")
    return root


def built_model(name: str):
    """A registered model, called once so that it is built (exporters need that)."""
    from fmnist.training.models import create_model

    model = create_model(name)
    model(np.zeros((1, 28, 28, 1), np.float32))
    return model


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return make_arrays()


@pytest.fixture
def synthetic_dir(tmp_path: Path, arrays) -> Path:
    return write_folder(tmp_path / "synthetic", arrays)


@pytest.fixture
def trust_synthetic_md5(monkeypatch, synthetic_dir: Path) -> Path:
    """Make the synthetic files count as the published ones, for cache and mirror logic."""
    from fmnist.data import download

    md5 = {name: download.md5_file(synthetic_dir / name) for name in NAMES.values()}
    monkeypatch.setattr(download, "MD5", md5)
    return synthetic_dir


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real data set, found through $FMNIST_DATA_DIR; the test skips without it."""
    folder = os.environ.get("FMNIST_DATA_DIR")
    if not folder or not Path(folder).is_dir():
        pytest.skip("FMNIST_DATA_DIR is not set to the real Fashion-MNIST folder")
    return Path(folder)


PHOTOS_TRAIN = os.environ.get("FMNIST_PHOTOS_DIR")  # read before any test unsets it


@pytest.fixture(scope="session")
def photos_train_dir() -> Path:
    """The labelled photo set to learn (photos-train), found through $FMNIST_PHOTOS_DIR as
    the run finds it; the test skips without it."""
    if not PHOTOS_TRAIN or not Path(PHOTOS_TRAIN).is_dir():
        pytest.skip("FMNIST_PHOTOS_DIR is not set to a labelled photo folder (photos-train)")
    return Path(PHOTOS_TRAIN)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fmnist-cache")


@pytest.fixture(scope="session", autouse=True)
def no_photo_set_by_accident(session_cache):
    """A test learns photos only where it names them: no $FMNIST_PHOTOS_DIR, a cache of the
    session's own (no photo set downloaded before), and a mirror that refuses at once, so
    nothing reaches the network. For the whole session, module fixtures included."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("FMNIST_PHOTOS_DIR", raising=False)
        patch.setenv("FMNIST_PHOTOS_URL", "http://127.0.0.1:9")
        if "FMNIST_CACHE_DIR" not in os.environ:
            patch.setenv("FMNIST_CACHE_DIR", str(session_cache))
        yield


@pytest.fixture
def isolated_env(monkeypatch, tmp_path: Path) -> Path:
    """No data dir, an empty cache and an empty Keras home: nothing found by accident."""
    monkeypatch.delenv("FMNIST_DATA_DIR", raising=False)
    monkeypatch.delenv("FMNIST_MIRRORS", raising=False)
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return tmp_path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def serve_folder():
    """serve_folder(folder) -> base URL of an HTTP server on 127.0.0.1 serving `folder`."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-sync",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download). Skips when either is
    missing, unless FMNIST_REQUIRE_BROWSER=1 (CI), where a missing browser fails."""
    import shutil

    executable = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if not executable or sync_playwright is None:
        reason = "chromium (scripts/install-browser.sh) or playwright is not installed"
        if os.environ.get("FMNIST_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def run_async(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API (the session's browser)
    keeps an event loop running in the main thread, where asyncio.run refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture
def two_node_cluster():
    """A Ray cluster of two nodes of one CPU each on this machine (ray.cluster_utils), and
    no Ray left running after it."""
    ray = pytest.importorskip("ray", reason="Ray is an optional extra")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
