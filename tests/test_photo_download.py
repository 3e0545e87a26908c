"""The photo set's download: every file checked against its git blob id, footwear told apart,
resumable, a tampered file refused; against a stand-in server on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from fmnist.cli import main
from fmnist.data import photo_download
from fmnist.data.photo_download import (
    COMMIT,
    FOOTWEAR_KINDS,
    PhotoDownloadError,
    PhotoFile,
    blob_id,
    download_photos,
    find_photos,
    footwear_kinds,
    manifest,
    verify_photos,
)
from fmnist.data.photo_sets import find_photo_set

SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_SPLITS = {"train": SHARED / "photos-train", "validation": SHARED / "photos-dev"}


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def stand_in():
    """stand_in(folder) -> (base URL, the paths requested) of a server on 127.0.0.1."""
    servers = []

    def start(folder: Path):
        handler = functools.partial(CountingHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.requests = []
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server.requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def publish(root: Path, files: dict[tuple[str, str, str], bytes]) -> Path:
    """A mirror's tree: root/<commit>/<split>/<folder>/<file>."""
    for (split, folder, name), data in files.items():
        path = root / COMMIT / split / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def tiny_set(tmp_path, monkeypatch):
    """A manifest of five small files (two of them footwear told apart) and its mirror."""
    files = {
        ("train", "shirt", "a.jpg"): b"shirt photo",
        ("train", "shoes", "b.jpg"): b"a sneaker",
        ("train", "shoes", "c.jpg"): b"a clog",
        ("train", "hat", "d.jpg"): b"a hat",
        ("validation", "shoes", "e.jpg"): b"a sandal",
    }
    entries = tuple(
        PhotoFile(split, folder, name, len(data), blob_id(data))
        for (split, folder, name), data in files.items()
    )
    monkeypatch.setattr(photo_download, "manifest", lambda: entries)
    monkeypatch.setattr(
        photo_download, "footwear_kinds", lambda: {"b.jpg": "sneaker", "e.jpg": "sandal"}
    )
    return publish(tmp_path / "mirror", files), files


def test_blob_id_is_what_git_hash_object_prints(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8 not really a jpeg \x00\x01")
    git = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True)
    if git.returncode != 0:
        pytest.skip("git is not installed")
    assert blob_id(path.read_bytes()) == git.stdout.strip()


def test_download_lays_the_set_out_with_footwear_told_apart(tiny_set, stand_in, tmp_path):
    mirror, _ = tiny_set
    url, requests = stand_in(mirror)
    root = download_photos(tmp_path / "set", url=url, progress=False)
    assert (root / "train" / "sneaker" / "b.jpg").read_bytes() == b"a sneaker"
    assert (root / "train" / "shoes" / "c.jpg").read_bytes() == b"a clog"  # not told apart
    assert (root / "validation" / "sandal" / "e.jpg").is_file()
    assert len(requests) == 5 and all(f"/{COMMIT}/" in r for r in requests)
    photos = find_photo_set(root / "train")  # the written classes.toml maps the folders
    assert photos.folders["sneaker"] == (7,) and photos.folders["shoes"] == (5, 7, 9)
    assert photos.folders["hat"] == () and len(photos.files) == 4
    assert verify_photos(root) == []


def test_a_second_download_fetches_only_what_is_missing(tiny_set, stand_in, tmp_path):
    mirror, _ = tiny_set
    url, requests = stand_in(mirror)
    root = download_photos(tmp_path / "set", url=url, progress=False)
    (root / "train" / "hat" / "d.jpg").unlink()
    (root / "train" / "shirt" / "a.jpg").write_bytes(b"changed")  # a damaged copy
    requests.clear()
    download_photos(root, url=url, progress=False)
    assert sorted(r.rsplit("/", 1)[1] for r in requests) == ["a.jpg", "d.jpg"]
    assert (root / "train" / "shirt" / "a.jpg").read_bytes() == b"shirt photo"


def test_a_tampered_file_is_refused_named_and_never_written(tiny_set, stand_in, tmp_path):
    mirror, files = tiny_set
    (mirror / COMMIT / "train" / "hat" / "d.jpg").write_bytes(b"a hat, but not that one")
    url, _ = stand_in(mirror)
    with pytest.raises(PhotoDownloadError, match=r"train/hat/d\.jpg: refused, not the publ"):
        download_photos(tmp_path / "set", url=url, progress=False)
    assert not (tmp_path / "set" / "train" / "hat" / "d.jpg").exists()
    assert (tmp_path / "set" / "train" / "shirt" / "a.jpg").is_file()  # the rest are kept
    assert not (tmp_path / "set" / "train" / ".verified").exists()  # not found as complete
    assert not list((tmp_path / "set").rglob("*.tmp*"))


def test_the_command_refuses_a_tampered_set_in_one_line(tiny_set, stand_in, tmp_path):
    mirror, _ = tiny_set
    (mirror / COMMIT / "validation" / "shoes" / "e.jpg").write_bytes(b"swapped")
    url, _ = stand_in(mirror)
    args = ["data", "photos", "download", "--out", tmp_path / "set", "--url", url, "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "validation/shoes/e.jpg: refused" in result.output


def test_an_unreachable_mirror_fails_fast_with_what_to_do(tiny_set, tmp_path):
    with pytest.raises(PhotoDownloadError, match="cannot reach http://127.0.0.1:9.*FMNIST_PHOTOS"):
        download_photos(tmp_path / "set", url="http://127.0.0.1:9", progress=False)
    assert not (tmp_path / "set").exists()


def test_photos_are_found_by_flag_then_variable_then_cache(
    tiny_set, stand_in, tmp_path, monkeypatch
):
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FMNIST_PHOTOS_DIR", raising=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    assert find_photos(mine) == mine
    monkeypatch.setenv("FMNIST_PHOTOS_DIR", str(mine))
    assert find_photos() == mine
    monkeypatch.delenv("FMNIST_PHOTOS_DIR")
    url, requests = stand_in(tiny_set[0])
    monkeypatch.setenv("FMNIST_PHOTOS_URL", url)
    cached = find_photos()  # downloaded into the cache
    assert cached == tmp_path / "cache" / "clothing-dataset-small" / "train" and requests
    requests.clear()
    assert find_photos() == cached and not requests  # found there the next time


def test_the_shipped_footwear_table_names_shoes_of_the_manifest():
    kinds = footwear_kinds()
    shoes = {p.name: p.split for p in manifest() if p.folder == "shoes"}
    assert set(kinds) <= set(shoes) and set(kinds.values()) == set(FOOTWEAR_KINDS)
    counted = {}
    for name, kind in kinds.items():
        counted[shoes[name], kind] = counted.get((shoes[name], kind), 0) + 1
    assert counted == {
        ("train", "sneaker"): 61, ("train", "sandal"): 49, ("train", "ankle-boot"): 29,
        ("validation", "sneaker"): 8, ("validation", "sandal"): 5, ("validation", "ankle-boot"): 7,
    }  # fmt: skip
    assert sum(p.split == "train" for p in manifest()) == 3068
    assert sum(p.split == "validation" for p in manifest()) == 341


@pytest.mark.skipif(not SHARED_SPLITS["train"].is_dir(), reason="../shared/photos-* absent")
def test_the_shipped_tables_match_the_shared_photo_folders():
    for split, folder in SHARED_SPLITS.items():
        for photo in (p for p in manifest() if p.split == split):
            assert (folder / photo.local_folder / photo.name).stat().st_size == photo.size


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_SPLITS["train"].is_dir(), reason="../shared/photos-* absent")
def test_both_real_splits_download_verified_from_a_stand_in(stand_in, tmp_path):
    """The real manifest: the shared copies served in the repository's layout (footwear back
    in shoes/), every file checked; then one of them tampered with and refused."""
    mirror = tmp_path / "mirror"
    for photo in manifest():
        target = mirror / COMMIT / photo.split / photo.folder / photo.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(SHARED_SPLITS[photo.split] / photo.local_folder / photo.name)
    url, requests = stand_in(mirror)
    root = download_photos(tmp_path / "set", url=url, progress=False)
    assert len(requests) == 3409 and verify_photos(root) == []
    train = find_photo_set(root / "train")
    assert train.counts() == find_photo_set(SHARED_SPLITS["train"]).counts()
    victim = next(p for p in manifest() if p.split == "validation" and p.folder == "shoes")
    (root / "validation" / victim.local_folder / victim.name).unlink()
    served = mirror / COMMIT / "validation" / "shoes" / victim.name
    served.unlink()
    served.write_bytes(b"\xff\xd8 tampered")
    with pytest.raises(PhotoDownloadError, match=f"validation/shoes/{victim.name}: refused"):
        download_photos(root, url=url, progress=False)
