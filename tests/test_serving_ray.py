"""The service on Ray Serve: the same app, deployed across a two-node Ray cluster."""

import json
import socket
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from conftest import built_model
from fmnist.artifacts import save_model
from fmnist.cli import main


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ray_options_go_with_ray(tmp_path):
    model = save_model(built_model("mlp"), tmp_path / "m.keras")
    result = CliRunner().invoke(main, ["serve", "--model", str(model), "--replicas", "2"])
    assert result.exit_code == 2 and "--address and --replicas go with --ray" in result.output
    result = CliRunner().invoke(main, ["serve", "--model", str(model), "--ray", "--workers", "2"])
    assert result.exit_code == 2 and "use --replicas" in result.output


@pytest.mark.slow
def test_the_service_runs_on_both_nodes_of_a_ray_cluster(tmp_path, two_node_cluster):
    serve = pytest.importorskip("ray.serve", reason="Ray Serve is the [serve-ray] extra")
    from ray.util.state import list_actors

    from fmnist.serving.ray_serve import start_on_ray

    model = save_model(built_model("mlp"), tmp_path / "m.keras", metadata={"unsure_below": 0.3})
    address = two_node_cluster.address
    try:
        url = start_on_ray(model, replicas=2, address=address, port=free_port())
        replicas = [
            actor
            for actor in list_actors(filters=[("state", "=", "ALIVE")])
            if "ServeReplica" in actor.class_name
        ]
        assert len({actor.node_id for actor in replicas}) == 2  # one replica on each node
        pixels = [[[0] * 14 + [200] * 14] * 28]
        answers = [post(f"{url}/v1/predict", {"pixels": pixels}) for _ in range(8)]
        assert all(status == 200 for status, _ in answers)
        assert {len(body["predictions"]) for _, body in answers} == {1}
        status, body = post(f"{url}/v1/predict?top_k=99", {"pixels": pixels})
        assert status == 422 and body["error"]["message"] == "top_k: 99 is not in 1-10"
        page = urllib.request.urlopen(f"{url}/", timeout=30).read().decode()
        assert "<canvas" in page  # the page too, from the same app
    finally:
        serve.shutdown()
