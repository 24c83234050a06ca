"""A page served on this machine only, to one browser that holds its key: what the landmark
editor (``talkface.editor``) and live mode's ``--serve`` (``talkface.live.server``) share.

:func:`listen` opens a :class:`PageServer` on 127.0.0.1 (never another interface) and says
in one line why it cannot; :class:`KeyedHandler` answers only requests that carry the run's
key (the ``t`` of the printed URL, or ``X-Talkface-Token``) and name the server by its own
address in ``Host``, so other sites open in the same browser can neither read nor post.
"""
from __future__ import annotations

import errno
import hmac
import json
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .errors import InputError

HOST = "127.0.0.1"


class PageServer(ThreadingHTTPServer):
    """The HTTP server of one page: ``page`` (the object its handler asks), ``token`` (the
    run's key) and ``url`` (the address to open, with the key)."""

    daemon_threads = True
    page: Any
    token: str
    url: str


def listen(port: int, handler: type[KeyedHandler], page: Any) -> PageServer:
    """A :class:`PageServer` for ``page`` on 127.0.0.1:``port`` (0: any free one), with a
    fresh key; InputError naming ``--port`` when it cannot listen there."""
    try:
        httpd = PageServer((HOST, int(port)), handler)
    except OverflowError:
        raise InputError(f"--port {port}: not a port number; give 1-65535, or 0 for any free port")
    except OSError as e:
        why = "already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        raise InputError(f"--port {port}: cannot listen on {HOST} ({why}); choose another port, "
                         "or 0 for any free one")
    httpd.page = page
    httpd.token = secrets.token_urlsafe(18)
    httpd.url = f"http://{HOST}:{httpd.server_address[1]}/?t={httpd.token}"
    return httpd


class KeyedHandler(BaseHTTPRequestHandler):
    """Replies (``_send``, ``_json``) and the key check (``_allowed``, ``_refuse``) of a
    :class:`PageServer`'s requests; ``who`` names the page in the refusal."""

    server: PageServer
    who = "talkface"
    timeout = 30  # a connection that sends nothing is dropped

    def log_message(self, format, *args):  # noqa: A002 - quiet: the terminal shows talkface's own lines
        pass

    def _send(self, code: int, body: bytes, ctype: str, *extra: tuple[str, str]):
        try:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the page went away: nothing to do
            self.close_connection = True

    def _json(self, code: int, obj):
        self._send(code, json.dumps(obj).encode(), "application/json")

    def _allowed(self, query: dict) -> bool:
        port = self.server.server_address[1]
        if self.headers.get("Host", "") not in (f"{HOST}:{port}", f"localhost:{port}"):
            return False
        key = self.headers.get("X-Talkface-Token") or (query.get("t") or [""])[0]
        return hmac.compare_digest(key.encode(), self.server.token.encode())

    def _refuse(self):
        self.close_connection = True
        self._send(403, f"{self.who}: open the address that talkface printed (it holds the session key)\n".encode(),
                   "text/plain; charset=utf-8")
