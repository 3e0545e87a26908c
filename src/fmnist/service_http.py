"""uvicorn's HTTP protocol, answering what it cannot parse with the service's JSON error.

    >>> uvicorn.run(app, http=JsonErrorH11Protocol)

A request uvicorn cannot parse (a malformed Content-Length, say) never reaches the app:
uvicorn answers it with its own text/plain 400. This protocol sends the JSON body every
other error of the service has. A module-level class, so `--workers` can pass it to its
processes.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from fmnist.serve import error_body


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = json.dumps(error_body(400, f"malformed HTTP request: {msg}")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
