"""uvicorn's HTTP protocol, answering what it cannot parse with the service's JSON error.

    >>> uvicorn.run(app, http=json_error_protocol(), loop=event_loop())

A request uvicorn cannot parse (a malformed Content-Length, say) never reaches the app:
uvicorn answers it with its own text/plain 400. These protocols send the JSON body every
other error of the service has. httptools (C) parses requests several times faster than
h11 (pure Python), and uvloop runs the event loop in C; both are used where installed.
Module-level classes, so `--workers` can pass them to its processes.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.h11_impl import H11Protocol

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
