"""A private redis-server for tests that stop and start Redis: its own loopback port, no
persistence, so the suite's shared Redis (and whatever else uses it) is never touched.

Without redis-server the test skips locally; in CI (CI=true) it fails, as tests/worker.py does.
"""

import os
import shutil
import socket
import subprocess
import time

import pytest

START_TIMEOUT = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_server_binary():
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required in CI for the Redis outage tests")
        pytest.skip("redis-server is not installed")
    return binary


class PrivateRedis:
    """start() and stop() as often as a test likes; the port stays the same."""

    def __init__(self):
        self.binary = redis_server_binary()
        self.port = free_port()
        self.process = None

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def keys(self, pattern="*"):
        """The keys the server holds (asked with a client of its own, not through Django's cache)."""
        import redis

        client = redis.Redis.from_url(self.url())
        try:
            return sorted(k.decode() for k in client.keys(pattern))
        finally:
            client.close()
