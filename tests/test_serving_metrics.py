"""The service's metrics and request ids: one request through the observer, counted by
path and status; a request id taken from the client only when it is a plain token."""

from prometheus_client.parser import text_string_to_metric_families

from conftest import run_async
from fmnist.serving.metrics import RequestObserver, ServiceMetrics, request_id_var


def samples(metrics: ServiceMetrics) -> dict:
    body, _ = metrics.exposition()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def call(metrics, path="/v1/model", status=200, request_id=b"abc-1"):
    """One request through the observer around an app answering `status`; the headers
    it sent back and the request id the app saw."""
    seen, sent = {}, []

    async def app(scope, receive, send):
        seen["id"] = request_id_var.get()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"x-request-id", request_id)],
    }
    run_async(RequestObserver(app, metrics)(scope, receive, send))  # a loop of its own
    return dict(sent[0]["headers"]), seen["id"]


def test_each_request_is_counted_by_path_and_status():
    metrics = ServiceMetrics()
    call(metrics)
    call(metrics)
    call(metrics, "/v1/predict", 413)
    call(metrics, "/wp-admin.php", 404)  # anything else shares one label: no unbounded growth
    found = samples(metrics)
    count = "fmnist_requests_total"
    assert found[(count, (("path", "/v1/model"), ("status", "200")))] == 2
    assert found[(count, (("path", "/v1/predict"), ("status", "413")))] == 1
    assert found[(count, (("path", "other"), ("status", "404")))] == 1
    latency = [v for (name, labels), v in found.items() if name == "fmnist_request_seconds_count"]
    assert sum(latency) == 4
    assert found[("fmnist_workers", ())] == 1


def test_the_request_id_is_the_clients_only_when_it_is_a_plain_token():
    metrics = ServiceMetrics()
    headers, seen = call(metrics, request_id=b"client-7.a_b")
    assert seen == "client-7.a_b" and headers[b"x-request-id"] == b"client-7.a_b"
    headers, seen = call(metrics, request_id=b"<script>" + b"x" * 80)
    assert seen != "<script>" and len(seen) == 32 and headers[b"x-request-id"] == seen.encode()


def test_batches_are_observed():
    metrics = ServiceMetrics()
    metrics.observe_batch(requests=3, images=5)
    found = samples(metrics)
    assert found[("fmnist_batch_requests_sum", ())] == 3
    assert found[("fmnist_batch_images_sum", ())] == 5
