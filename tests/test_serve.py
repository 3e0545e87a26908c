"""The prediction service: endpoints, every class of bad input, a real server, the page."""

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import ARTIFACTS, built_model
from fmnist.artifacts import save_model
from fmnist.data import CLASS_NAMES
from fmnist.predict import Predictor
from fmnist.serve import ServiceLimits, create_app

LIMITS = ServiceLimits(max_upload_bytes=300_000, max_pixels=1_000_000, max_images=8)


def png(width=120, height=160, mode="RGB", fmt="PNG") -> bytes:
    pixels = np.full((height, width, 3), 255, np.uint8)
    pixels[height // 5 : -height // 5, width // 4 : -width // 4] = 40
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def model():
    return built_model("cnn")


@pytest.fixture(scope="module")
def client(model):
    app = create_app(Predictor(model, CLASS_NAMES), {"name": "tiny"}, LIMITS)
    return TestClient(app, raise_server_exceptions=False)


def files(*items):
    return [("files", item) for item in items]


def test_health_ready_model_docs_and_page(client):
    assert client.get("/healthz").json() == {"status": "alive"}
    assert client.get("/readyz").json()["status"] == "ready"
    info = client.get("/v1/model").json()
    assert info["name"] == "tiny" and info["classes"] == list(CLASS_NAMES)
    assert info["input"]["max_upload_bytes"] == 300_000
    assert client.get("/docs").status_code == 200
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]
    page = client.get("/").text
    assert "<canvas" in page and 'type="file"' in page
    assert "http://" not in page and "https://" not in page  # no CDN, works offline


def test_predict_files(client):
    reply = client.post(
        "/v1/predict",
        files=files(("a.png", png(), "image/png"), ("b.jpg", png(fmt="JPEG"), "image/jpeg")),
    )
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["model"] == "tiny" and answer["time_ms"] > 0
    first, second = answer["predictions"]
    assert (first["source"], second["source"]) == ("a.png", "b.jpg")
    assert len(first["top_k"]) == 3 and first["top_k"][0]["class"] in CLASS_NAMES
    assert list(first["probabilities"]) == list(CLASS_NAMES)
    assert sum(first["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert np.array(first["pixels"]).shape == (28, 28)


def test_predict_json_single_and_batch(client, model):
    image = np.random.default_rng(0).integers(0, 256, (28, 28))
    single = client.post("/v1/predict?top_k=5", json={"pixels": image.tolist()}).json()
    assert len(single["predictions"]) == 1 and len(single["predictions"][0]["top_k"]) == 5
    expected = model.predict(image[None, :, :, None].astype(np.float32), verbose=0)[0]
    got = np.array(list(single["predictions"][0]["probabilities"].values()))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    batch = client.post("/v1/predict", json={"pixels": [image.tolist()] * 3}).json()
    assert [p["source"] for p in batch["predictions"]] == ["pixels[0]", "pixels[1]", "pixels[2]"]


def truncated_png():
    return png()[:300]


BAD_REQUESTS = {
    "not an image": (dict(files=files(("a.png", b"hello, not a picture", "image/png"))), 400),
    "empty file": (dict(files=files(("a.png", b"", "image/png"))), 400),
    "truncated png": (dict(files=files(("a.png", truncated_png(), "image/png"))), 400),
    "huge dimensions": (dict(files=files(("big.png", png(1500, 1000, "L"), "image/png"))), 413),
    "oversized upload": (dict(files=files(("a.png", b"\0" * 400_000, "image/png"))), 413),
    "part content type": (dict(files=files(("a.txt", png(), "text/plain"))), 415),
    "declared png, holds jpeg": (dict(files=files(("a.png", png(fmt="JPEG"), "image/png"))), 415),
    "body content type": (dict(content=b"pixels", headers={"content-type": "text/plain"}), 415),
    "no content type": (dict(content=b"pixels"), 415),
    "no files in form": (dict(data={"note": "hi"}, files=[("x", ("", b"", ""))]), 422),
    "too many images": (dict(json={"pixels": [[[0] * 28] * 28] * 9}), 413),
    "wrong json shape": (dict(json={"pixels": [[0] * 27] * 28}), 422),
    "ragged json": (dict(json={"pixels": [[0] * 28, [0] * 3]}), 422),
    "json not numbers": (dict(json={"pixels": [["a"] * 28] * 28}), 422),
    "json without pixels": (dict(json={"image": 1}), 422),
    "json list": (dict(json=[1, 2, 3]), 422),
    "values out of range": (dict(json={"pixels": [[300] * 28] * 28}), 422),
    "negative values": (dict(json={"pixels": [[-1] * 28] * 28}), 422),
    "nan": (
        dict(
            content=b'{"pixels": ['
            + b",".join([b"[" + b",".join([b"NaN"] * 28) + b"]"] * 28)
            + b"]}",
            headers={"content-type": "application/json"},
        ),
        422,
    ),
    "invalid json": (dict(content=b"{pixels", headers={"content-type": "application/json"}), 400),
    "malformed multipart": (
        dict(content=b"--x\r\nbroken", headers={"content-type": "multipart/form-data; boundary=x"}),
        422,
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_gets_a_4xx_json_answer(client, case):
    kwargs, status = BAD_REQUESTS[case]
    reply = client.post("/v1/predict", **kwargs)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["status"] == status and error["message"]
    assert client.get("/healthz").status_code == 200  # still serving


@pytest.mark.parametrize("top_k", ["0", "11", "abc"])
def test_bad_top_k(client, top_k):
    reply = client.post(f"/v1/predict?top_k={top_k}", json={"pixels": [[0] * 28] * 28})
    assert reply.status_code == 422 and "error" in reply.json()


def test_chunked_body_over_the_limit_is_refused(client):
    def chunks():
        for _ in range(40):
            yield b"\0" * 10_000

    headers = {"content-type": "application/json"}  # read, so the byte counter sees it
    reply = client.post("/v1/predict", content=chunks(), headers=headers)
    assert reply.status_code == 413 and "over" in reply.json()["error"]["message"]


def test_random_bodies_never_cause_a_5xx(client):
    rng = np.random.default_rng(0)
    types = ["application/json", "multipart/form-data; boundary=abc", "image/png", "text/plain"]
    for k in range(60):
        body = rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes()
        if k % 3 == 0:
            body = b'{"pixels": ' + body + b"}"
        reply = client.post("/v1/predict", content=body, headers={"content-type": types[k % 4]})
        assert 400 <= reply.status_code < 500, (k, reply.status_code, reply.text)
    ok = client.post("/v1/predict", files=files(("a.png", png(), "image/png")))
    assert ok.status_code == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, model):
    """`fmnist serve` as a real process on a free loopback port."""
    folder = tmp_path_factory.mktemp("serve")
    path = save_model(model, folder / "model.keras", CLASS_NAMES)
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fmnist", "serve", "--model", str(path), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as reply:
                if reply.status == 200:
                    break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"fmnist serve exited: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("fmnist serve did not become ready in 90 s")
    yield url
    process.terminate()
    process.wait(timeout=20)


def test_real_server_answers_a_real_request(server):
    body = json.dumps({"pixels": [[0] * 28] * 28}).encode()
    request = urllib.request.Request(
        f"{server}/v1/predict", body, {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer = json.loads(reply.read())
    assert reply.status == 200 and answer["predictions"][0]["top_k"][0]["class"] in CLASS_NAMES
    with urllib.request.urlopen(f"{server}/v1/model", timeout=10) as reply:
        assert json.loads(reply.read())["name"].startswith("serve")  # the run folder's name


def test_page_uploads_a_photo_and_draws_in_a_browser(server, browser, tmp_path):
    photo = tmp_path / "shirt.png"
    photo.write_bytes(png(200, 240))
    page = browser.new_page(viewport={"width": 1100, "height": 800})
    page.goto(server + "/")
    page.set_input_files("#file", str(photo))
    page.wait_for_function(
        "document.getElementById('result').textContent.includes('%')", timeout=30_000
    )
    result = page.text_content("#result")
    assert any(name in result for name in CLASS_NAMES)
    assert page.locator("#bars .bar").count() == 10
    assert page.text_content("#error") == ""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-upload.png"))
    page.evaluate("document.getElementById('result').textContent = ''")
    box = page.locator("#draw").bounding_box()
    page.mouse.move(box["x"] + 60, box["y"] + 60)
    page.mouse.down()
    page.mouse.move(box["x"] + 220, box["y"] + 220, steps=8)
    page.mouse.up()
    page.click("#predict-drawing")
    page.wait_for_function(
        "document.getElementById('result').textContent.includes('%')", timeout=30_000
    )
    assert any(name in page.text_content("#result") for name in CLASS_NAMES)
    page.close()
