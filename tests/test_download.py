"""Downloads against HTTP servers on 127.0.0.1: fallback, MD5 refusal, nothing half-written."""

import os
import shutil

import pytest

from conftest import NAMES
from fmnist.data import download
from fmnist.errors import DataError


@pytest.fixture
def mirrors(tmp_path, trust_synthetic_md5, serve_folder):
    """Three mirrors: one missing every file, one serving corrupt copies, one good."""
    empty, corrupt = tmp_path / "empty", tmp_path / "corrupt"
    empty.mkdir()
    corrupt.mkdir()
    for name in NAMES.values():
        data = (trust_synthetic_md5 / name).read_bytes()
        (corrupt / name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    return {
        "missing": serve_folder(empty),
        "corrupt": serve_folder(corrupt),
        "good": serve_folder(trust_synthetic_md5),
        "refused": "http://127.0.0.1:9/",
    }


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_falls_back_to_the_next_mirror(tmp_path, mirrors):
    dest = tmp_path / "dest"
    order = (mirrors["refused"], mirrors["missing"], mirrors["corrupt"], mirrors["good"])
    assert download.download(dest, order, progress=False) == dest
    assert all(check.ok for check in download.verify_folder(dest))
    assert leftovers(dest) == []


def test_refuses_a_file_with_the_wrong_md5(tmp_path, mirrors):
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as caught:
        download.download(dest, (mirrors["corrupt"], mirrors["missing"]), progress=False)
    message = str(caught.value)
    assert message.startswith("train-images-idx3-ubyte.gz: no mirror gave a verified copy")
    assert "is not the published" in message and "HTTP 404" in message
    assert message.endswith("--data-dir DIR or FMNIST_DATA_DIR=DIR")  # what to do offline
    assert "\n" not in message
    assert list(dest.iterdir()) == []  # nothing kept, nothing half-written


def test_a_bad_download_never_replaces_existing_files(tmp_path, mirrors):
    dest = tmp_path / "dest"
    download.download(dest, (mirrors["good"],), progress=False)
    damaged = dest / NAMES["test_images"]
    damaged.write_bytes(b"damaged but the user's")
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    with pytest.raises(DataError):
        download.download(dest, (mirrors["corrupt"],), progress=False)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    # A good mirror replaces only the damaged file, atomically.
    download.download(dest, (mirrors["good"],), progress=False)
    assert all(check.ok for check in download.verify_folder(dest))
    assert leftovers(dest) == []


def test_environment_mirrors_override(monkeypatch, mirrors):
    monkeypatch.setenv("FMNIST_MIRRORS", f" {mirrors['good']} , {mirrors['missing']}")
    assert download.configured_mirrors() == (mirrors["good"], mirrors["missing"])
    monkeypatch.setenv("FMNIST_MIRRORS", "")
    assert download.configured_mirrors() == download.MIRRORS


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    from fmnist.cache import cache_dir

    monkeypatch.delenv("FMNIST_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "fmnist" and cache_dir("photos") == tmp_path / "fmnist/photos"
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_verify_names_each_problem(tmp_path, synthetic_dir):
    folder = tmp_path / "checked"
    shutil.copytree(synthetic_dir, folder)
    (folder / NAMES["train_labels"]).unlink()
    data = (folder / NAMES["test_images"]).read_bytes()
    (folder / NAMES["test_images"]).write_bytes(data[: len(data) // 2])
    checks = {c.name: c for c in download.verify_folder(folder)}
    assert checks[NAMES["train_labels"]].problem == "missing"
    assert checks[NAMES["test_images"]].problem.startswith("truncated gzip stream")
    assert checks[NAMES["train_images"]].problem.startswith("MD5 mismatch: the file parses")


def test_mnist_md5_is_named():
    path = download.Path("train-images-idx3-ubyte.gz")
    assert "MNIST" in download.diagnose(path, "f68b3c2dcbeaaa9fbdd348bbdeb94873")


def test_real_files_download_from_a_local_mirror(real_data_dir, serve_folder, tmp_path):
    """The published MD5s, end to end: the real files served on 127.0.0.1."""
    dest = download.download(tmp_path / "dest", (serve_folder(real_data_dir),), progress=False)
    checks = download.verify_folder(dest)
    assert [c.md5 for c in checks] == list(download.MD5.values())
    assert all(c.ok for c in checks)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_named_as_the_cause(tmp_path, mirrors, monkeypatch):
    """Writes go to /dev/full, a device that is always full (ENOSPC): the error is the
    disk's, said so in one line, not "no mirror ... offline?"."""
    import contextlib

    import pooch.core

    @contextlib.contextmanager
    def full_device(path=None):
        yield "/dev/full"

    monkeypatch.setattr(pooch.core, "temporary_file", full_device)
    with pytest.raises(DataError) as caught:
        download.download(tmp_path / "dest", (mirrors["good"],), progress=False)
    message = str(caught.value)
    dest = tmp_path / "dest"
    disk = "no space left on the disk"
    assert message == f"train-images-idx3-ubyte.gz: cannot save it in {dest}: {disk}"
    assert not any((tmp_path / "dest").iterdir())
