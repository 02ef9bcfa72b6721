"""HTTP: the handler of /ping, /invocations and /_smgha/*, and the threading server."""

from __future__ import annotations

import http
import http.server
import json
import logging
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

from smgha.backends.local.serving.endpoint import Endpoint
from smgha.backends.local.serving.inference import JSON, Reply

# InvokeEndpoint refuses bodies over 6 MB; so does the container (MAX_CONTENT_LENGTH).
MAX_BODY_BYTES = 6 * 1024 * 1024

TARGET_VARIANT_HEADER = "X-Amzn-SageMaker-Target-Variant"
INVOKED_VARIANT_HEADER = "X-Amzn-Invoked-Production-Variant"

log = logging.getLogger(__name__)

_REASONS = {status.value: status.phrase for status in http.HTTPStatus}


class EndpointHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; each reply goes out in one write (head and body together)."""

    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY a reply that takes two segments waits for the client's delayed ACK
    # (40 ms on Linux); replies are one write, but error pages from the base class are not.
    disable_nagle_algorithm = True
    server: EndpointHTTPServer

    def do_GET(self) -> None:
        endpoint = self.server.endpoint
        parts = urlsplit(self.path)
        if parts.path == "/ping":
            if endpoint.table.healthy():
                self._send(Reply(200))
            else:
                self._send(Reply(503, b"Not every variant with weight is InService."))
        elif parts.path == "/_smgha/variants":
            self._send_json(endpoint.variants())
        elif parts.path == "/_smgha/metrics":
            try:
                report = endpoint.metrics_report(parse_qs(parts.query))
            except ValueError as error:
                self._send(Reply(400, f"Bad metrics query: {error}".encode()))
                return
            self._send_json(report)
        elif parts.path == "/_smgha/status":
            self._send_json(endpoint.status())
        else:
            self._send(Reply(404, f"No such resource: GET {parts.path}".encode()))

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path != "/invocations":
            self._send(Reply(404, f"No such resource: POST {path}".encode()))
            return
        try:
            reply = self.server.endpoint.invoke(
                body,
                self.headers.get("Content-Type", ""),
                self.headers.get("Accept", ""),
                self.headers.get(TARGET_VARIANT_HEADER, ""),
            )
        except Exception:
            log.exception("POST /invocations failed")
            reply = Reply(500, b"Internal server error; see server.log.")
        self._send(reply)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering an error (the connection then closes)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._send(Reply(411, b"Send the body with a Content-Length."))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self.close_connection = True
            self._send(Reply(400, b"Bad Content-Length."))
            return None
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body stays unread
            self._send(Reply(413, f"The body is over {MAX_BODY_BYTES} bytes.".encode()))
            return None
        return self.rfile.read(length) if length else b""

    def _send_json(self, document: Any) -> None:
        self._send(Reply(200, json.dumps(document).encode(), JSON))

    def _send(self, reply: Reply) -> None:
        head = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, '')}\r\n"
        if reply.status != 204:  # a 204 has no body, so no Content-Type or Content-Length
            head += f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
        if reply.variant:
            head += f"{INVOKED_VARIANT_HEADER}: {reply.variant}\r\n"
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode("latin-1") + b"\r\n" + reply.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: a line per request would cost more than the prediction."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        # Only errors get here (malformed requests answered by the base class).
        log.warning("%s: %s", self.address_string(), format % args)


class EndpointHTTPServer(http.server.ThreadingHTTPServer):
    """A thread per connection: a kept-alive client keeps its thread, so nothing is queued
    behind a slow request but the GIL. The model locks make predictions safe."""

    daemon_threads = True  # open keep-alive connections must not hold up the exit
    request_queue_size = 128  # the default 5 resets connections when 16 clients connect at once

    def __init__(self, address: tuple[str, int], endpoint: Endpoint) -> None:
        super().__init__(address, EndpointHandler)
        self.endpoint = endpoint

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # a client went away mid-request
        log.exception("error handling a request from %s", client_address)
