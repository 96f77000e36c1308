"""No API key leaves the process: not in stdout, stderr, nor any file the stage writes.

`EchoServer` is a translation service on 127.0.0.1 that fails every request and puts
everything it received (URL, headers, body) into its error answer, so any place that
repeats a server's or a library's error text would repeat the key.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mpn.core import secrets
from libre import make_fever_project
from stage_argv import stage_argv

KEY = "SECRETKEY123:fx"


class EchoServer:
    def __init__(self, status: int):
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                seen = {"path": self.path, "headers": dict(self.headers), "body": body}
                server.requests.append(seen)
                data = json.dumps({"error": f"rejected {seen}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def run_translate(root: Path, provider: str, options: dict, env_var: str) -> subprocess.CompletedProcess:
    make_fever_project(root, "http://unused/", provider=provider, max_attempts=2,
                       **{provider: options})
    env = {**__import__("os").environ, env_var: KEY}
    return subprocess.run([sys.executable, *stage_argv("translate.py", "fever")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_key_nowhere(root: Path, proc: subprocess.CompletedProcess) -> None:
    encoded = KEY.replace(":", "%3A")
    for where, text in [("stdout", proc.stdout), ("stderr", proc.stderr)] + [
            (str(p), p.read_bytes().decode("utf-8", "replace")) for p in root.rglob("*") if p.is_file()]:
        assert KEY not in text and encoded not in text, f"the key leaked into {where}"


@pytest.mark.parametrize("status", [500, 403])
def test_deepl_key_goes_in_a_header_and_never_into_output(tmp_path, status):
    server = EchoServer(status)
    try:
        proc = run_translate(tmp_path, "deepl", {"url": server.url, "api_key_env": "DEEPL_API_KEY"},
                             "DEEPL_API_KEY")
    finally:
        server.stop()
    assert proc.returncode == 2, proc.stderr
    assert server.requests, "the stage never reached the server"
    first = server.requests[0]
    assert first["headers"].get("Authorization") == f"DeepL-Auth-Key {KEY}"
    assert KEY not in first["path"] and "auth_key" not in first["path"]
    assert ("HTTP 500" if status == 500 else "HTTP 403") in proc.stderr
    assert_key_nowhere(tmp_path, proc)


def test_libre_key_goes_in_the_form_body_and_never_into_output(tmp_path):
    server = EchoServer(500)
    try:
        proc = run_translate(tmp_path, "libre", {"url": server.url}, "LIBRE_API_KEY")
    finally:
        server.stop()
    assert proc.returncode == 2
    assert f"api_key={KEY.replace(':', '%3A')}" in server.requests[0]["body"]
    assert "api_key" not in server.requests[0]["path"]
    assert_key_nowhere(tmp_path, proc)


def test_unreachable_service_error_names_no_key(tmp_path):
    """Offline, the connection error's text names the URL: it must not carry the key."""
    closed = EchoServer(500)
    url = closed.url
    closed.stop()
    proc = run_translate(tmp_path, "deepl", {"url": url}, "DEEPL_API_KEY")
    assert proc.returncode == 2
    assert "ConnectionError" in proc.stderr
    assert_key_nowhere(tmp_path, proc)


def test_scrub_masks_registered_values_and_credential_parameters(caplog):
    secrets.register("tok-abcdef")
    text = ("GET /v2/translate?auth_key=zzz9&text=hi failed; Unauthorized access with the api key "
            "tok-abcdef; Authorization: Bearer qqq111; url?api_key=tok%2Dabcdef")
    scrubbed = secrets.scrub(text)
    for value in ("zzz9", "tok-abcdef", "qqq111"):
        assert value not in scrubbed
    assert "text=hi" in scrubbed and "auth_key=***" in scrubbed and "Bearer ***" in scrubbed
    secrets.install_log_scrubbing()
    logging.getLogger("mpn.test").warning("request with %s failed", "tok-abcdef")
    assert "tok-abcdef" not in caplog.text and "request with *** failed" in caplog.text


@pytest.mark.parametrize("text, secret", [
    ("GET https://api.example.com/v2/translate?text=hi&api_key=abcd1234efgh failed", "abcd1234efgh"),
    ("GET /translate?access_token=tk_55aa&q=hi", "tk_55aa"),
    ("Authorization: Bearer zzz123qq", "zzz123qq"),
    ("X-Api-Key: qqq777ww\r\nHost: example.com", "qqq777ww"),
    ("Ocp-Apim-Subscription-Key: az0123abc", "az0123abc"),
    ('HTTP 401: {"error": "rejected", "api_key": "sk-live-999x"}', "sk-live-999x"),
    ("HTTP 500: rejected {'body': 'auth_key=form555x&text=hi'}", "form555x"),
    ("auth_key=start888x&text=hi", "start888x"),
])
def test_scrub_masks_unregistered_keys_in_urls_headers_and_error_bodies(text, secret):
    scrubbed = secrets.scrub(text)
    assert secret not in scrubbed and secrets.MASK in scrubbed


@pytest.mark.parametrize("text", [
    "error: translation key 'xx-YY' is not a language code other than en (CLDR); "
    "pass any_language_key=True to the Editor to allow it",
    "error: --set value_norm_max=5 stream_key=abc: unknown key",
    "the key: a language code such as de",
])
def test_scrub_leaves_our_own_messages_as_they_are(text):
    assert secrets.scrub(text) == text
