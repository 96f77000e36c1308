"""A real HTTP server on 127.0.0.1 that speaks LibreTranslate, and a one-task FEVER
project that translates through it: the translate tests' fixtures.

`LibreServer` answers POST /translate like LibreTranslate (q, source, target, format,
api_key in the query string, a form or a JSON body; {"translatedText": ...}) with
scripted faults per text, and logs every request. The "translation" is "<target>:<q>".
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml


class LibreServer:
    """POST /translate on 127.0.0.1:<ephemeral>. faults[text] is a list of actions for that
    text's successive requests: an HTTP status, ("sleep", seconds) before answering, or
    "hang" (no answer until release()). After the list runs out, requests succeed.
    hang_after=N: once N answers have been served, every new request hangs."""

    def __init__(self):
        self.faults: dict[str, list] = {}
        self.log: list[dict] = []
        self.hang_after: int | None = None
        self.hanging = threading.Event()  # set when a request is being held
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda request, address: None  # clients that gave up
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def served(self, text: str | None = None) -> list[str]:
        """Texts answered with a translation (200), in order."""
        return [r["q"] for r in self.log if r["outcome"] == 200 and text in (None, r["q"])]

    def outcomes(self, text: str) -> list:
        return [r["outcome"] for r in self.log if r["q"] == text]

    def release(self) -> None:
        self._release.set()

    def start(self) -> "LibreServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next_action(self, text: str):
        with self._lock:
            if self.hang_after is not None and len(self.served()) >= self.hang_after:
                return "hang"
            script = self.faults.get(text) or []
            return script.pop(0) if script else 200

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                url = urlparse(self.path)
                fields = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if body and "json" in (self.headers.get("Content-Type") or ""):
                    fields.update(json.loads(body))
                elif body:
                    fields.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
                entry = {k: fields.get(k) for k in ("q", "source", "target", "format", "api_key")}
                action = "not found" if url.path != "/translate" else server._next_action(entry["q"])
                entry["outcome"] = action
                with server._lock:
                    server.log.append(entry)
                if action == "hang":
                    server.hanging.set()
                    server._release.wait()
                    return
                if isinstance(action, tuple):  # ("sleep", seconds): answer late
                    entry["outcome"] = "slow"
                    time.sleep(action[1])
                    action = "slow"
                status = 200 if action == "slow" else 404 if action == "not found" else action
                payload = ({"translatedText": f"{entry['target']}:{entry['q']}"} if status == 200
                           else {"error": f"scripted {status}"})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


CLAIMS = [f"Claim number {i} is about something." for i in range(12)]


def make_fever_project(root: Path, url: str, **overrides) -> None:
    raw = root / "data" / "raw" / "fever"
    raw.mkdir(parents=True)
    with open(raw / "test.jsonl", "w", encoding="utf-8") as f:
        for i, claim in enumerate(CLAIMS):
            f.write(json.dumps({"id": f"c{i}", "group": f"c{i}", "lang": "en",
                                "variant": "original", "split": "test",
                                "label": "SUPPORTS" if i % 2 else "REFUTES",
                                "claim": claim}) + "\n")
    translate = {"languages": ["pt"], "provider": "libre", "providers": {},
                 "rate_limit": None, "timeout_s": 5.0, "max_attempts": 2, "backoff_s": 0.01,
                 "backoff_max_s": 0.05, "max_failures": 0, "libre": {"url": url}}
    translate.update(overrides)
    (root / "params.yaml").write_text(yaml.safe_dump({"tasks": ["fever"], "translate": translate}))
