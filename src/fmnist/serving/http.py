"""The HTTP servers under the service: uvicorn with a protocol that answers what it cannot
parse with the service's JSON error, or Granian.

    >>> uvicorn.run(app, **uvicorn_options("127.0.0.1", 8000))  # doctest: +SKIP
    >>> app_path = "fmnist.serving.app:app_from_environment"  # doctest: +SKIP
    >>> run_granian(app_path, "127.0.0.1", 8000, workers=2)  # doctest: +SKIP

A request uvicorn cannot parse (a malformed Content-Length, say) never reaches the app:
uvicorn answers it with its own text/plain 400. These protocols send the JSON body every
other error of the service has. httptools (C) parses requests several times faster than
h11 (pure Python), and uvloop runs the event loop in C; both are used where installed.
Module-level classes, so `--workers` can pass them to its processes.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.h11_impl import H11Protocol

from fmnist.errors import FmnistError
from fmnist.serving.requests import error_body


def json_400(msg: str) -> bytes:
    body = json.dumps(error_body(400, f"malformed HTTP request: {msg}")).encode()
    return (
        b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
        + body
    )


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        self.transport.write(json_400(msg))
        self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(json_400(msg))
            self.transport.close()

except ImportError:  # httptools is not installed
    JsonErrorHttpToolsProtocol = None


def json_error_protocol():
    """The fastest HTTP protocol installed, with JSON errors."""
    return JsonErrorHttpToolsProtocol or JsonErrorH11Protocol


def event_loop() -> str:
    """uvloop where installed, else asyncio's own loop."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def uvicorn_options(host: str, port: int) -> dict:
    """How the service runs uvicorn: its own request log (RequestObserver logs each request
    with its id), 10 s for requests in flight at shutdown, the fastest parser and loop."""
    return dict(
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
        http=json_error_protocol(),
        loop=event_loop(),
    )


def run_granian(factory: str, host: str, port: int, workers: int) -> None:
    """Serve the app that `factory` ("module:function") makes, in `workers` processes, on
    Granian: its HTTP parsing, connections and socket work are Rust, outside Python's lock.
    A request it cannot parse gets Granian's own plain 400, not the service's JSON one."""
    try:
        from granian import Granian
    except ImportError:
        raise FmnistError(
            "--server granian needs Granian: pip install 'fmnist[serve-fast]'"
        ) from None
    Granian(
        factory,
        address=host,
        port=port,
        interface="asgi",
        factory=True,
        workers=workers,
        loop="uvloop" if event_loop() == "uvloop" else "asyncio",
        log_access=False,
        workers_kill_timeout=10,
    ).serve()
