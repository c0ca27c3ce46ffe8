"""A tiny webhook receiver on 127.0.0.1 for tests: answers with scripted status codes and
verifies every request's signature with statuspage.delivery.verify_signature, as a real
subscriber would. It echoes the challenge of a verification request (as a subscriber must
before it gets anything else) unless told `echo=None`, or answers the text `echo`."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from statuspage.delivery import verify_signature


class WebhookReceiver:
    def __init__(self, answers=(200,), secret=None, echo=True):
        self.answers = list(answers)  # status codes, in order; the last one repeats
        self.secret = secret
        self.echo = echo  # True: echo verification challenges; None: answer "ok"; a str: answer it
        self.requests = []
        self.hold = None  # a threading.Event: the next request waits for it before answering
        self.hold_at = None  # (n, threading.Event): the n-th request (from 1) waits for it
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(
                    {
                        "headers": headers,
                        "body": body,
                        "json": json.loads(body or b"null"),
                        "verified": receiver.secret is not None
                        and verify_signature(
                            receiver.secret,
                            headers.get("x-warroom-timestamp"),
                            body,
                            headers.get("x-warroom-signature"),
                        ),
                    }
                )
                receiver.received.set()
                hold, receiver.hold = receiver.hold, None
                if receiver.hold_at is not None and len(receiver.requests) == receiver.hold_at[0]:
                    hold = receiver.hold_at[1]
                if hold is not None:
                    hold.wait(30)
                code = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                answer = b"ok"
                challenge = isinstance(receiver.requests[-1]["json"], dict) and receiver.requests[-1]["json"].get(
                    "challenge"
                )
                if challenge and receiver.echo is True:
                    answer = challenge.encode()
                elif challenge and isinstance(receiver.echo, str):
                    answer = receiver.echo.encode()
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/status"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    """webhook_receiver(answers=(500, 200), echo=None) -> a running WebhookReceiver; stopped
    after the test."""
    started = []

    def _start(answers=(200,), secret=None, echo=True):
        receiver = WebhookReceiver(answers, secret, echo)
        started.append(receiver)
        return receiver

    yield _start
    for receiver in started:
        receiver.stop()
