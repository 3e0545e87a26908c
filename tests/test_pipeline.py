"""The main job's own steps before the stages: the data checked, the photos to learn found
(or one line saying why not), the formats refused before any work."""

import pytest

from fmnist.data import download
from fmnist.errors import DataError, FmnistError
from fmnist.pipeline import data_checks, photos_to_learn
from fmnist.stages import check_formats
from fmnist.training.config import make_config


def test_photos_to_learn_in_the_order_the_run_finds_them(tmp_path, monkeypatch):
    lines = []
    config = make_config({"model": "mlp"})
    mine = tmp_path / "mine"
    mine.mkdir()
    assert photos_to_learn(make_config({"photos": str(mine)}), echo=lines.append).photos == str(
        mine
    )
    assert photos_to_learn(make_config({"photos": str(mine)}), wanted=False).photos is None
    monkeypatch.setenv("FMNIST_PHOTOS_DIR", str(mine))
    assert photos_to_learn(config, echo=lines.append).photos == str(mine)
    monkeypatch.delenv("FMNIST_PHOTOS_DIR")
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))  # no set cached; offline
    assert photos_to_learn(config, echo=lines.append).photos is None
    (line,) = lines
    assert line.startswith("[photos] not taught photos: cannot reach http://127.0.0.1:9")
    assert "fmnist data photos download" in line and "--no-photos" in line


def test_a_photo_folder_named_but_missing_is_an_error_not_a_skip(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_PHOTOS_DIR", str(tmp_path / "gone"))
    with pytest.raises(FmnistError, match=r"gone \(\$FMNIST_PHOTOS_DIR\): no such folder"):
        photos_to_learn(make_config({}))


def test_the_data_is_checked_file_by_file(trust_synthetic_md5, tmp_path):
    folder, checks = data_checks(make_config({"data_dir": str(trust_synthetic_md5)}))
    assert folder == trust_synthetic_md5 and [c.ok for c in checks] == [True] * 4
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in download.MD5:
        (damaged / name).write_bytes((trust_synthetic_md5 / name).read_bytes())
    (damaged / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        data_checks(make_config({"data_dir": str(damaged)}))


@pytest.mark.parametrize(
    "formats, message", [(("keras", "onnx"), "unknown format 'onnx'"), ((), "no format given")]
)
def test_formats_are_refused_before_any_work(formats, message):
    with pytest.raises(FmnistError, match=message):
        check_formats(formats)
    assert check_formats(["h5", "keras"]) == ("h5", "keras")
