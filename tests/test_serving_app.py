"""The prediction service: endpoints, every class of bad input, a real server, the page."""

import base64
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import ARTIFACTS, built_model, run_async
from fmnist.artifacts import save_model
from fmnist.data.dataset import CLASS_NAMES
from fmnist.predict import Predictor
from fmnist.predict.schema import ErrorResponse, PredictResponse
from fmnist.serving.app import ServiceLimits, create_app, load_app

LIMITS = ServiceLimits(
    max_upload_bytes=300_000, max_pixels=1_000_000, max_request_pixels=1_500_000, max_images=8
)


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
    with TestClient(app, raise_server_exceptions=False) as client:  # runs the warm-up
        yield client


def files(*items):
    return [("files", item) for item in items]


def test_health_ready_model_docs_and_page(client):
    assert client.get("/healthz").json()["status"] == "alive"
    assert client.get("/readyz").json()["status"] == "ready"
    info = client.get("/v1/model").json()
    assert info["name"] == "tiny" and info["classes"] == list(CLASS_NAMES)
    assert info["input"]["max_upload_bytes"] == 300_000
    docs = client.get("/docs").text
    assert "/docs/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()  # offline
    bundle = client.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 500_000
    assert client.get("/docs/swagger-ui.css").status_code == 200
    schema = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    content = schema["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["files"]["items"] == {
        "type": "string",
        "format": "binary",
    }
    assert "pixels" in content["application/json"]["schema"]["properties"]
    # the bodies the schema describes are the answer's own models (fmnist.predict.schema)
    whole = client.get("/openapi.json").json()
    assert "422" not in schema["responses"] and "HTTPValidationError" not in str(whole)
    bodies = {
        code: r["content"]["application/json"]["schema"] for code, r in schema["responses"].items()
    }
    assert bodies == {
        "200": {"$ref": "#/components/schemas/PredictResponse"},
        "4XX": {"$ref": "#/components/schemas/ErrorResponse"},
    }
    assert set(whole["components"]["schemas"]["AnswerJSON"]["properties"]) >= {
        "answer", "sure", "segmentation", "true", "correct", "error", "steps"
    }  # fmt: skip
    refused = client.post("/v1/predict?top_k=99", json={"pixels": [[0] * 28] * 28})
    assert 400 <= refused.status_code < 500
    ErrorResponse.model_validate(refused.json())  # extra keys forbidden: nothing undescribed
    page = client.get("/").text
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    assert client.get(icon).status_code == 200  # no 404 for the favicon
    assert "<canvas" in page and 'type="file"' in page
    assert "http://" not in page and "https://" not in page  # no CDN, works offline


def test_real_answers_are_what_the_schema_says(client):
    """Two photos explained, a drawing, and a file that is no image: each response
    validates against the models the schema is made from, which forbid keys they do not
    name (a key the service sends that the schema lacks fails here)."""
    photos = files(("a.png", png(60, 40)), ("b.png", png(90, 120)))
    found = PredictResponse.model_validate(
        client.post("/v1/predict?explain=true", files=photos).json()
    )
    first = found.predictions[0]
    assert first.steps is not None and first.sure is not None and first.segmentation
    drawn = client.post("/v1/predict", json={"pixels": [[0] * 28] * 28}).json()
    assert PredictResponse.model_validate(drawn).predictions[0].pixels is not None
    refused = client.post("/v1/predict", files=files(("b.png", b"not an image")))
    assert ErrorResponse.model_validate(refused.json()).error.status == refused.status_code


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


def test_explain_shows_a_photo_s_steps_and_the_unsure_verdict(model):
    unsure = Predictor(model, CLASS_NAMES, unsure_below=0.999)  # untrained: never this sure
    app = create_app(unsure, {"name": "tiny"}, LIMITS)
    with TestClient(app) as client:
        photo = textured_photo()
        reply = client.post(
            "/v1/predict?explain=true", files=files(("shirt.png", photo, "image/png"))
        )
        assert reply.status_code == 200, reply.text
        answer = reply.json()["predictions"][0]
        best = answer["top_k"][0]["class"]
        assert answer["sure"] is False and answer["answer"] == f"not sure: looks most like {best}"
        assert answer["segmentation"] == "grabcut"
        for key in ("photo", "article", "saliency"):
            url = answer["steps"][key]
            assert url.startswith("data:image/png;base64,")
            Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).verify()
        plain = client.post("/v1/predict", files=files(("shirt.png", photo, "image/png")))
        assert "steps" not in plain.json()["predictions"][0]  # only when asked


def textured_photo() -> bytes:
    """A dark T-shape on a noisy warm carpet, as PNG."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(120, 230, (200, 160, 3)).astype(np.uint8)
    pixels[..., 2] //= 3
    pixels[40:170, 55:105] = (25, 35, 90)
    pixels[40:80, 25:135] = (25, 35, 90)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


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
    "over the request's pixel budget": (
        dict(files=files(*[(f"{k}.png", png(1000, 900, "L"), "image/png") for k in range(2)])),
        413,
    ),
    "strip image": (dict(files=files(("strip.png", png(5000, 4, "L"), "image/png"))), 400),
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
    "huge integer": (
        dict(
            content=b'{"pixels": [[1' + b"0" * 400 + b"]]}",
            headers={"content-type": "application/json"},
        ),
        422,
    ),
    "deeply nested json": (
        dict(content=b"[" * 50_000 + b"]" * 50_000, headers={"content-type": "application/json"}),
        400,
    ),
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
    "raw body, not an image": (dict(content=b"hello", headers={"content-type": "image/png"}), 400),
    "raw body, empty": (dict(content=b"", headers={"content-type": "image/jpeg"}), 400),
    "raw body, declared png, holds jpeg": (
        dict(content=png(fmt="JPEG"), headers={"content-type": "image/png"}),
        415,
    ),
    "raw body, huge dimensions": (
        dict(content=png(1500, 1000, "L"), headers={"content-type": "image/png"}),
        413,
    ),
    "raw body, oversized": (
        dict(content=b"\0" * 400_000, headers={"content-type": "image/png"}),
        413,
    ),
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


def test_a_16_bit_photo_is_scaled_not_clipped(client):
    """Pillow's own conversion clips 16-bit values to 255: the model would see black."""
    pixels = np.full((160, 120), 52_000, np.uint16)  # a light background
    pixels[30:130, 30:90] = 9_000  # a dark article
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    reply = client.post("/v1/predict", files=files(("deep.png", buffer.getvalue(), "image/png")))
    assert reply.status_code == 200, reply.text
    seen = np.array(reply.json()["predictions"][0]["pixels"])
    assert seen.max() > 150 and seen.max() - seen.min() > 100  # the article, light on dark


def test_every_answer_carries_its_request_id(client):
    reply = client.get("/v1/model", headers={"x-request-id": "trace-42"})
    assert reply.headers["x-request-id"] == "trace-42"
    good = client.post("/v1/predict", json={"pixels": [[0] * 28] * 28})
    assert good.json()["request_id"] == good.headers["x-request-id"]
    bad = client.post("/v1/predict", json={"pixels": 1}, headers={"x-request-id": "<script>"})
    assert bad.headers["x-request-id"] != "<script>"  # not a plain token: a new id instead
    assert bad.json()["request_id"] == bad.headers["x-request-id"]


def test_metrics_are_scraped_in_the_prometheus_format(client):
    from prometheus_client.parser import text_string_to_metric_families

    client.post("/v1/predict", json={"pixels": [[[0] * 28] * 28] * 3})
    client.post("/v1/predict", json={"pixels": 5})
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(reply.text)
        for s in family.samples
    }
    ok = samples[("fmnist_requests_total", (("path", "/v1/predict"), ("status", "200")))]
    bad = samples[("fmnist_requests_total", (("path", "/v1/predict"), ("status", "422")))]
    assert ok >= 1 and bad >= 1
    assert samples[("fmnist_request_seconds_count", (("path", "/v1/predict"),))] >= ok + bad
    assert samples[("fmnist_batch_images_sum", ())] >= 4  # the warm-up, then 3 images
    assert samples[("fmnist_ready", ())] == 1


def test_readyz_waits_for_the_warm_up(model):
    app = create_app(Predictor(model, CLASS_NAMES), {"name": "tiny"}, LIMITS)
    cold = TestClient(app)  # no lifespan: the warm-up has not run
    assert cold.get("/readyz").status_code == 503
    with TestClient(app) as warm:
        assert warm.get("/readyz").json()["status"] == "ready"


def test_one_bad_request_never_fails_the_others_in_its_batch(model):
    import asyncio

    import httpx

    app = create_app(Predictor(model, CLASS_NAMES), {"name": "tiny"}, LIMITS)

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            good = [http.post("/v1/predict", json={"pixels": [[k] * 28] * 28}) for k in range(8)]
            bad = http.post("/v1/predict", files=files(("x.png", b"junk", "image/png")))
            return await asyncio.gather(*good, bad)

    *good, bad = run_async(main())
    assert [r.status_code for r in good] == [200] * 8 and bad.status_code == 400
    assert all(len(r.json()["predictions"]) == 1 for r in good)


def test_a_stalled_body_gets_408(model):
    import asyncio

    limits = ServiceLimits(body_timeout_s=0.3)
    app = create_app(Predictor(model, CLASS_NAMES), {"name": "tiny"}, limits)
    sent = []

    async def main():
        async def receive():
            await asyncio.sleep(3600)  # a client that never sends its body

        async def send(message):
            sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/predict",
            "raw_path": b"/v1/predict",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("t", 80),
            "client": ("c", 1),
            "root_path": "",
        }
        await asyncio.wait_for(app(scope, receive, send), 5)

    run_async(main())
    assert sent[0]["status"] == 408
    assert b"stalled" in sent[1]["body"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, model, *flags: str):
    """`fmnist serve` as a real process on a free loopback port, with two workers; yields
    its URL and stops it afterwards."""
    # never this sure, untrained: every answer is "not sure", as the page must show
    path = save_model(model, folder / "model.keras", CLASS_NAMES, {"unsure_below": 0.999})
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "fmnist", "serve", "--model", str(path), "--port", str(port)]
        + ["--workers", "2", *flags],
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


@pytest.fixture(scope="module")
def server(tmp_path_factory, model):
    yield from start_server(tmp_path_factory.mktemp("serve"), model)


@pytest.fixture(scope="module")
def granian_server(tmp_path_factory, model):
    pytest.importorskip("granian", reason="Granian is the [serve-fast] extra")
    yield from start_server(tmp_path_factory.mktemp("serve"), model, "--server", "granian")


@pytest.mark.slow
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


def test_real_server_answers_malformed_http_with_json(server):
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    head, body = reply.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head.lower()
    assert json.loads(body)["error"]["status"] == 400


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
    assert result.startswith("not sure: looks most like ")
    assert any(name in result for name in CLASS_NAMES)
    assert page.locator("#bars .bar").count() == 10
    assert page.text_content("#error") == ""
    # the photo's steps: the photo, the garment cut out, the 28 x 28 input, the saliency
    assert page.is_visible("#steps-section")
    assert page.locator("#steps img").count() == 4
    assert page.evaluate(
        "Array.from(document.querySelectorAll('#steps img')).every(i => i.naturalWidth > 0)"
    )
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


def test_page_at_phone_width_replaces_answers_and_refuses_an_empty_drawing(
    server, browser, tmp_path
):
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(server + "/")
    first, second = page.locator("main > section").all()[:2]
    a, b = first.bounding_box(), second.bounding_box()
    assert b["y"] >= a["y"] + a["height"] and b["width"] > 300  # stacked, full width
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360  # no sideways scroll
    page.click("#predict-drawing")  # nothing drawn yet
    assert "canvas is empty" in page.text_content("#error")
    assert page.text_content("#result") == "" and page.locator("#bars .bar").count() == 0
    photo = tmp_path / "shirt.png"
    photo.write_bytes(png(200, 240))
    page.set_input_files("#file", str(photo))
    page.wait_for_function("document.querySelectorAll('#bars .bar').length === 10")
    widths = page.evaluate(
        "Array.from(document.querySelectorAll('#bars .track')).map(t => t.clientWidth)"
    )
    assert min(widths) > 100  # the bars keep their length at phone width
    page.screenshot(path=str(ARTIFACTS / "serve-phone.png"), full_page=True)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture at all")
    page.set_input_files("#file", str(broken))
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    error = page.text_content("#error")
    assert "broken.png" in error and "object at" not in error and "0x" not in error
    assert page.text_content("#result") == "" and page.locator("#bars .bar").count() == 0
    seen = page.evaluate(
        "Array.from(document.getElementById('seen').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data).some(v => v > 0)"
    )
    assert not seen  # the previous photo's 28 x 28 is gone too
    page.close()


def test_one_image_as_the_raw_body_answers_as_the_same_file_uploaded(client):
    photo = png()
    raw = client.post(
        "/v1/predict", content=photo, headers={"content-type": "image/png", "x-filename": "a.png"}
    )
    form = client.post("/v1/predict", files=files(("a.png", photo, "image/png")))
    assert raw.status_code == form.status_code == 200
    (from_raw,), (from_form,) = raw.json()["predictions"], form.json()["predictions"]
    assert from_raw["source"] == "a.png" and from_raw["probabilities"] == from_form["probabilities"]
    assert from_raw["segmentation"] == from_form["segmentation"]


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def check_metrics_add_up(url: str) -> None:
    """Two workers: every scrape, whichever worker takes it, counts every request."""
    key = 'fmnist_requests_total{path="/v1/model",status="200"}'
    deadline = time.monotonic() + 60  # both workers started (a worker warms up on its own)
    while time.monotonic() < deadline:
        now = scrape(url)
        if now.get("fmnist_workers") == 2 and now.get("fmnist_ready") == 1:
            break
        time.sleep(0.2)
    before = scrape(url).get(key, 0.0)
    for _ in range(20):  # a new connection each: both workers take some
        with urllib.request.urlopen(f"{url}/v1/model", timeout=10) as reply:
            assert reply.status == 200
    # A request is counted once its answer has gone out, a moment after the client has it;
    # a worker counts as ready once its own warm-up call is done, which under load can come
    # after the other worker has answered.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        now = scrape(url)
        if now[key] - before >= 20 and now["fmnist_ready"] == 1:
            break
        time.sleep(0.05)
    for _ in range(4):  # then every scrape, whichever worker takes it, has all 20
        found = scrape(url)
        assert found[key] - before == 20
        assert found["fmnist_workers"] == 2 and found["fmnist_ready"] == 1


@pytest.mark.slow
def test_metrics_are_the_whole_services_across_workers(server):
    check_metrics_add_up(server)


@pytest.mark.slow
def test_the_service_on_granian_answers_and_adds_up_its_metrics(granian_server):
    """Granian forks its workers from a process that imported prometheus_client before
    the shared folder was named: the metrics must still add up."""
    photo = png(28, 28)
    request = urllib.request.Request(
        f"{granian_server}/v1/predict", photo, {"content-type": "image/png"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer = json.loads(reply.read())
        assert reply.headers["x-request-id"] == answer["request_id"]
    assert answer["predictions"][0]["top_k"][0]["class"] in CLASS_NAMES
    check_metrics_add_up(granian_server)
    assert scrape(granian_server)['fmnist_requests_total{path="/v1/predict",status="200"}'] == 1


def test_the_service_answers_through_onnx_runtime_as_tensorflow_does(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime", reason="ONNX Runtime is the [onnx] extra")
    from fmnist.serving.engine import onnx_path, use_onnx_runtime

    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "cache"))
    path = save_model(built_model("cnn"), tmp_path / "m.keras", CLASS_NAMES)
    predictor = Predictor.load(path)
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28)).astype(np.float32)
    by_tensorflow = predictor.probabilities(images)
    assert use_onnx_runtime(predictor, path) == "onnx"
    assert onnx_path(path).is_file()  # exported once, then reused
    np.testing.assert_allclose(predictor.probabilities(images), by_tensorflow, atol=1e-5)
    with TestClient(load_app(path, limits=ServiceLimits(engine="tensorflow"))) as client:
        assert client.get("/v1/model").json()["engine"] == "tensorflow"
    with TestClient(load_app(path)) as client:
        assert client.get("/v1/model").json()["engine"] == "onnx"
