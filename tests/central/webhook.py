"""A real webhook receiver for the central alert tests, and the ``--alerts`` file
that routes a worker's alerts to it (and to the console)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from hazmon.acquisition.alert_routes import SIGNATURE_HEADER, verify

SECRET = "centre-webhook-secret"
#: The variable the route reads its secret from (the tests set it to :data:`SECRET`).
SECRET_VARIABLE = "HAZMON_TEST_CENTRE_SECRET"


class Receiver:
    """A webhook receiver on a free port: keeps each POST's body and whether its
    signature verified with :data:`SECRET`."""

    def __init__(self) -> None:
        self.posts: list[tuple[bool, dict[str, Any]]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                signed = verify(SECRET.encode(), self.headers.get(SIGNATURE_HEADER, ""), body)
                received.append((signed, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [body for _, body in self.posts if body["kind"] == kind]

    def notices(self, event: str, key: str) -> list[dict[str, Any]]:
        """The posts of one notice event (``alert``, ``ack``, ``state``) for ``key``."""
        return [body for _, body in self.posts if (body["event"], body["key"]) == (event, key)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def alerts_file(directory: Path, url: str) -> Path:
    """An ``--alerts`` file: the console, and a webhook to ``url`` signed with the
    secret in :data:`SECRET_VARIABLE`."""
    alerts = directory / "alerts.toml"
    alerts.write_text(
        "[alerts]\n"
        "[[alerts.routes]]\n"
        'kind = "console"\n'
        "[[alerts.routes]]\n"
        'kind = "webhook"\n'
        f'url = "{url}"\n'
        f'secret_env = "{SECRET_VARIABLE}"\n',
        encoding="utf-8",
    )
    return alerts
