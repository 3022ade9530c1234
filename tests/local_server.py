"""A real HTTP server for a test's peer, on a free 127.0.0.1 port, in a thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    quiet_errors = False

    def handle_error(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        if not self.quiet_errors:
            super().handle_error(request, client_address)


@contextmanager
def serve_on_loopback(
    handler: type[BaseHTTPRequestHandler], *, quiet_errors: bool = False, port: int = 0
) -> Iterator[ThreadingHTTPServer]:
    """Serve ``handler`` until the block ends; ``server_address[1]`` is the port.

    ``port`` 0 picks a free one. ``quiet_errors`` hides the tracebacks of
    clients that hang up early.
    """
    httpd = _Server(("127.0.0.1", port), handler)
    httpd.quiet_errors = quiet_errors
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
