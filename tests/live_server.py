"""The app on a real local port, in a thread: for the simulator and end-to-end tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask
from werkzeug.serving import make_server


def free_port() -> int:
    """A TCP port nobody listens on right now: for a URL that must refuse connections. Never
    serve on it (another process may take it before you bind): `serving` binds port 0 instead."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Flask | Callable[[str], Flask]) -> Iterator[str]:
    """Serve the app on a port the system picks, for the duration of the block; yield its base
    URL. Give a function of the base URL instead of an app when the app's settings must name
    its own address (PUBLIC_BASE_URL, which Twilio signatures are checked against)."""
    # Bound to port 0 and read back: picking a free port first and binding it later is a race
    # another process can win.
    server = make_server("127.0.0.1", 0, _not_ready, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    server.app = app if isinstance(app, Flask) else app(base_url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _not_ready(environ: object, start_response: Callable[..., object]) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"not ready"]
