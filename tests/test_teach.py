"""Teaching: the corrections folder, `fmnist data photos add`, `fmnist adapt` (versions, no
forgetting), the service's corrections and its reload under load, and the page."""

import asyncio
import io
import json
import time

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from PIL import Image

from conftest import built_model, make_arrays, photo_folder, run_async, write_folder
from fmnist.artifacts import save_model
from fmnist.cli import main
from fmnist.data.dataset import CLASS_NAMES
from fmnist.data.photo_sets import find_photo_set
from fmnist.photos.corrections import (
    OUT_OF_CLASS,
    CorrectionError,
    CorrectionsFull,
    CorrectionStore,
    CorrectionTooLarge,
    label_of,
)
from fmnist.predict import Predictor
from fmnist.run_folder import Run
from fmnist.serving.app import ServiceLimits, create_app, load_app
from fmnist.serving.teach import Teaching


def photo(seed: int = 0, size=(60, 80), fmt="PNG", noise=False) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    if not noise:
        pixels[10:-10, 10:-10] = 40 + seed
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def trousers(seed: int) -> bytes:
    """Two dark legs on a white ground: unlike the run's photos (a block on noise)."""
    pixels = np.full((90, 60, 3), 255, np.uint8)
    pixels[8:-6, 12 + seed : 27, :] = 20
    pixels[8:-6, 33 : 48 - seed, :] = 20
    pixels[8:20, 12:48] = 20
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_correction_is_kept_by_its_content_under_its_label_as_a_photo_set(tmp_path):
    store = CorrectionStore(tmp_path / "corrections")
    saved = store.add(photo(1), "Ankle boot", "../../etc/passwd.png")  # the name is not a path
    out = store.add(photo(2, fmt="JPEG"), None)
    assert saved.path.parent == store.root / "ankle-boot" and saved.path.suffix == ".png"
    assert out.path.parent.name == OUT_OF_CLASS and out.path.suffix == ".jpg"
    assert saved.path.read_bytes() == photo(1)
    photos = find_photo_set(store.root)  # its own classes.toml
    assert photos.folders["ankle-boot"] == (CLASS_NAMES.index("Ankle boot"),)
    assert photos.folders[OUT_OF_CLASS] == ()
    assert store.counts() == {"Ankle boot": 1, "none of these": 1}
    assert not list(store.root.rglob(".*tmp*"))  # written atomically: nothing left over


def test_a_photo_corrected_again_keeps_one_copy_under_the_last_label(tmp_path):
    store = CorrectionStore(tmp_path)
    first = store.add(photo(3), "Shirt")
    again = store.add(photo(3), "T-shirt/top")
    assert again.moved_from == first.path and not first.path.exists()
    assert store.count() == 1 and store.counts() == {"T-shirt/top": 1}


@pytest.mark.parametrize(
    "data, label, error, expected",
    [
        (b"", "Shirt", CorrectionError, "empty file"),
        (b"GIF89a not a photo at all", "Shirt", CorrectionError, "not a readable image"),
        (photo(4, size=(150, 150), noise=True), "Shirt", CorrectionTooLarge, "bytes; at most"),
        (photo(5, size=(200, 200)), "Shirt", CorrectionTooLarge, "over the limit"),
        (photo(6), "Hat", CorrectionError, "not a class"),
    ],
)
def test_a_bad_correction_is_refused_in_one_line_and_nothing_is_written(
    tmp_path, data, label, error, expected
):
    store = CorrectionStore(tmp_path / "c", max_bytes=50_000, max_pixels=30_000)
    with pytest.raises(error, match=expected) as raised:
        store.add(data, label, "upload.png")
    assert "\n" not in str(raised.value) and store.count() == 0


def test_a_full_folder_refuses_a_new_photo_but_relabels_one_it_has(tmp_path):
    store = CorrectionStore(tmp_path, max_photos=2)
    store.add(photo(7), "Bag")
    store.add(photo(8), "Bag")
    with pytest.raises(CorrectionsFull, match="full"):
        store.add(photo(9), "Bag")
    store.add(photo(8), "Coat")
    assert store.counts() == {"Bag": 1, "Coat": 1}


def test_labels_are_read_as_people_type_them():
    assert label_of("ankle boot") == label_of("Ankle-Boot") == "Ankle boot"
    assert label_of("t-shirt/top") == label_of("t-shirt-top") == "T-shirt/top"
    assert label_of("none") is label_of("none of these") is None
    with pytest.raises(CorrectionError, match="'hat': not a class; the classes are"):
        label_of("hat")


def test_photos_add_copies_files_with_their_label(tmp_path):
    for k in range(2):
        (tmp_path / f"p{k}.png").write_bytes(photo(10 + k))
    corrections = tmp_path / "corrections"
    flags = ["data", "photos", "add", str(tmp_path / "p0.png"), str(tmp_path / "p1.png")]
    result = CliRunner().invoke(main, [*flags, "--label", "sandal", "--to", str(corrections)])
    assert result.exit_code == 0, result.output
    assert "2 photos in" in result.output and "fmnist adapt RUN --photos" in result.output
    assert len(list((corrections / "sandal").iterdir())) == 2
    bad = CliRunner().invoke(main, [*flags[:4], "--label", "hat", "--to", str(corrections)])
    assert bad.exit_code != 0 and "'hat': not a class" in bad.output


@pytest.fixture(scope="module")
def tiny():
    return built_model("cnn")


def test_the_service_keeps_corrections_only_with_a_folder_for_them(tmp_path, tiny):
    limits = ServiceLimits(max_upload_bytes=300_000)
    teaching = Teaching(corrections=tmp_path / "corrections")
    with TestClient(create_app(Predictor(tiny, CLASS_NAMES), {}, limits, teaching=teaching)) as c:
        assert c.get("/v1/corrections").json() == {
            "enabled": True, "folder": str((tmp_path / "corrections").resolve()),
            "count": 0, "by_label": {},
        }  # fmt: skip
        sent = c.post("/v1/corrections", files={"file": ("x.png", photo(1), "image/png")},
                      data={"label": "Sneaker"})  # fmt: skip
        assert sent.status_code == 201, sent.text
        assert sent.json()["saved"].startswith("sneaker/") and sent.json()["count"] == 1
        assert (tmp_path / "corrections" / sent.json()["saved"]).read_bytes() == photo(1)
        bad = c.post("/v1/corrections", files={"file": ("x.png", photo(2), "image/png")},
                     data={"label": "Hat"})  # fmt: skip
        assert bad.status_code == 422 and "not a class" in bad.json()["error"]["message"]
        junk = c.post("/v1/corrections", files={"file": ("x.png", b"junk", "image/png")},
                      data={"label": "Bag"})  # fmt: skip
        assert junk.status_code == 400 and c.get("/v1/corrections").json()["count"] == 1
    with TestClient(create_app(Predictor(tiny, CLASS_NAMES), {}, limits)) as plain:
        assert plain.get("/v1/corrections").json() == {"enabled": False}
        refused = plain.post("/v1/corrections", files={"file": ("x.png", photo(1), "image/png")},
                             data={"label": "Bag"})  # fmt: skip
        assert refused.status_code == 404 and "--corrections" in refused.json()["error"]["message"]


def test_a_reload_under_load_drops_no_request(tiny):
    import httpx

    other = built_model("mlp")
    loads = []

    def load():
        loads.append(time.perf_counter())
        return Predictor(other, CLASS_NAMES), {"version": len(loads) + 1}

    app = create_app(Predictor(tiny, CLASS_NAMES), {"name": "m"}, teaching=Teaching(load=load))
    body = {"pixels": np.random.default_rng(0).integers(0, 255, (28, 28)).tolist()}

    async def scenario():
        transport = httpx.ASGITransport(app=app)  # from 127.0.0.1, as a local client
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

            async def connection():
                return [await http.post("/v1/predict", json=body) for _ in range(15)]

            async def reloads():
                answers = []
                for _ in range(3):
                    await asyncio.sleep(0.02)
                    answers.append(await http.post("/admin/reload"))
                return answers

            *streams, reloaded = await asyncio.gather(*[connection() for _ in range(8)], reloads())
            version = (await http.get("/v1/model")).json()["version"]
            return [r for s in streams for r in s], reloaded, version

    answers, reloaded, version = run_async(scenario())
    assert [r.status_code for r in answers] == [200] * 120
    assert [r.json()["version"] for r in reloaded] == [2, 3, 4] and version == 4
    tops = {json.dumps(r.json()["predictions"][0]["probabilities"]) for r in answers}
    assert len(tops) == 2  # both models answered: the swap happened under load


def test_reload_answers_only_this_machine(tiny):
    import httpx

    app = create_app(Predictor(tiny, CLASS_NAMES), {}, teaching=Teaching(load=lambda: None))

    async def from_elsewhere():
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return await http.post("/admin/reload")

    refused = run_async(from_elsewhere())
    assert refused.status_code == 403 and "this machine" in refused.json()["error"]["message"]


def test_a_service_picks_up_a_new_model_file_by_itself(tmp_path, tiny):
    path = save_model(tiny, tmp_path / "model.keras", CLASS_NAMES)
    pixels = {"pixels": [[30] * 28] * 28}
    with TestClient(load_app(path, limits=ServiceLimits(engine="tensorflow"))) as client:
        before = client.post("/v1/predict", json=pixels).json()["predictions"][0]
        save_model(built_model("mlp"), path, CLASS_NAMES)  # as fmnist adapt does: atomically
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = client.post("/v1/predict", json=pixels).json()["predictions"][0]
            if now["probabilities"] != before["probabilities"]:
                break
            time.sleep(0.2)
        assert now["probabilities"] != before["probabilities"]
        assert "fmnist_model_reloads_total 1.0" in client.get("/metrics").text


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A trained run on 3,000 synthetic images that learned a small photo folder."""
    root = tmp_path_factory.mktemp("teach")
    data = write_folder(root / "data", make_arrays(2000, 1000))
    photos = photo_folder(root / "photos", {"t-shirt": 8, "hat": 8})
    flags = ["--model", "mlp", "--epochs", "3", "--data-dir", str(data), "--photos", str(photos)]
    result = CliRunner().invoke(main, ["train", *flags, "--runs-dir", str(root / "runs")])
    assert result.exit_code == 0, result.output
    return next((root / "runs").iterdir()), data, root


@pytest.mark.slow
def test_adapt_learns_corrections_as_a_new_version_and_forgets_nothing(small_run, monkeypatch):
    run_dir, data, root = small_run
    store = CorrectionStore(root / "corrections")
    for k in range(3):
        store.add(trousers(k), "Trouser")
    result = CliRunner().invoke(
        main, ["adapt", str(run_dir), "--photos", str(store.root), "--data-dir", str(data)]
    )
    assert result.exit_code == 0, result.output
    assert "Version 2: learned 3 new photos" in result.output
    assert "[adapt] pass 12/12" in result.output
    run = Run.load(run_dir)
    first, second = run.versions.versions
    assert (first.version, first.learned, second.learned) == (1, "photos", "corrections")
    assert run.folder.version_path(1).is_file() and run.folder.version_path(2).is_file()
    assert run.folder.version_path(2).read_bytes() == run.folder.model_path.read_bytes()
    assert run.folder.version_path(1).read_bytes() != run.folder.model_path.read_bytes()
    assert second.new_after == 1.0 and second.learned_from == 3
    assert abs(second.fmnist_test - second.fmnist_test_before) <= 0.003  # no forgetting
    assert second.replayed_from == run.photos.learned_from  # its held-out photos are not learned
    assert second.earlier_held_out_before is not None and second.earlier_held_out is not None
    assert run.metrics.split("test").accuracy == pytest.approx(second.fmnist_test, abs=1e-6)
    report = run.folder.report_path.read_text()
    assert "The model served now is version 2" in report
    # a second round learns only what is new, and replays the first round's corrections
    store.add(photo(30), None)
    again = CliRunner().invoke(main, ["adapt", str(run_dir), "--photos", str(store.root),
                                      "--data-dir", str(data)])  # fmt: skip
    assert again.exit_code == 0 and "Version 3: learned 1 new photos" in again.output
    third = Run.load(run_dir).versions.current
    assert third.replayed_from == second.replayed_from + 3
    nothing = CliRunner().invoke(main, ["adapt", str(run_dir), "--photos", str(store.root),
                                        "--data-dir", str(data)])  # fmt: skip
    assert nothing.exit_code == 1
    assert "no photos the model has not learned already" in nothing.output
    assert len(Run.load(run_dir).versions.versions) == 3  # nothing written


@pytest.fixture(scope="module")
def teaching_server(tmp_path_factory, tiny):
    from test_serving_app import start_server

    folder = tmp_path_factory.mktemp("serve-teach")
    for url in start_server(folder, tiny, "--corrections", str(folder / "corrections")):
        yield url, folder / "corrections"


def test_the_page_keeps_a_correction_at_phone_width_and_by_keyboard(
    teaching_server, browser, tmp_path
):
    url, corrections = teaching_server
    upload = tmp_path / "mine.png"
    upload.write_bytes(trousers(0))
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(url + "/")
    page.wait_for_selector("#where:not([hidden])")
    assert str(corrections.resolve()) in page.text_content("#where")
    page.set_input_files("#file", str(upload))
    page.wait_for_selector("#teach:not([hidden])", timeout=30_000)
    page.select_option("#right-label", "Trouser")
    page.click("#right-save")
    page.wait_for_function("document.getElementById('teach-note').textContent.startsWith('Saved')")
    assert page.text_content("#teach-note").startswith("Saved as Trouser: trouser/")
    (kept,) = (corrections / "trouser").iterdir()
    assert kept.read_bytes() == upload.read_bytes()
    assert "(1 so far)" in page.text_content("#where")
    # the 390 px layout holds: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = page.locator("#teach").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    # by keyboard: "Yes" keeps it under the answer's class (the same photo: moved, one copy)
    page.evaluate("document.getElementById('teach-note').textContent = ''")
    page.focus("#right-yes")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('teach-note').textContent.startsWith('Saved')")
    answered = page.text_content("#teach-note").removeprefix("Saved as ").split(":")[0]
    assert answered in CLASS_NAMES
    assert len([p for p in corrections.rglob("*.png")]) == 1
    page.close()
