"""A real OpenID provider for the SSO tests: tests/oidc/provider.mjs (the npm `oidc-provider`
package, pinned in tests/oidc/package-lock.json) in a Node process on loopback.

`make test` and .ci/run install its packages into tests/oidc/node_modules (git-ignored) with
`npm ci` when they are missing. Without Node or those packages the SSO tests skip locally; in CI
(CI=true) they fail instead, like every test whose service is missing.
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).parent / "oidc"
CLIENT_ID = "warroom"
CLIENT_SECRET = "warroom-test-client-secret"


def _missing(why):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: .ci/run must install Node and run `npm ci --prefix tests/oidc`.")
    pytest.skip(f"{why} (apt-get install nodejs npm; npm ci --prefix tests/oidc); the SSO tests need it.")


class Provider:
    """The running provider: `issuer`, `accounts` (rewrite with `set_accounts`), `tamper(mode)`."""

    def __init__(self, redirect_uris, accounts):
        node = shutil.which("node")
        if not node:
            _missing("Node is not installed")
        if not (HERE / "node_modules" / "oidc-provider").is_dir():
            _missing("tests/oidc/node_modules is missing")
        self._dir = tempfile.TemporaryDirectory(prefix="warroom-oidc-")
        self.accounts_file = Path(self._dir.name) / "accounts.json"
        self.set_accounts(accounts)
        env = {
            **os.environ,
            "OIDC_TEST_ACCOUNTS": str(self.accounts_file),
            "OIDC_TEST_CLIENT_ID": CLIENT_ID,
            "OIDC_TEST_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_TEST_REDIRECT_URIS": ",".join(redirect_uris),
        }
        self.process = subprocess.Popen(
            [node, str(HERE / "provider.mjs")],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.issuer = self._wait_for_issuer()
        # Its warnings (development adapter, dev interactions) go to stderr: drain it.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()

    def _wait_for_issuer(self):
        found = []
        reader = threading.Thread(target=lambda: found.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(30)
        line = found[0] if found else ""
        if not line.startswith("listening "):
            self.stop()
            pytest.fail(f"the test OpenID provider did not start: {line!r}")
        return line.split()[1]

    def set_accounts(self, accounts):
        """{login: claims}; the provider reads the file at every sign-in."""
        self.accounts_file.write_text(json.dumps(accounts))

    def tamper(self, mode):
        """Make the token endpoint answer wrongly (see provider.mjs), or None for correctly."""
        requests.post(f"{self.issuer}/__test/tamper", json={"mode": mode}, timeout=5).raise_for_status()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._dir.cleanup()


def configure(settings, provider, site_url, **extra):
    """Point Warroom's settings at the provider."""
    settings.OIDC_ISSUER_URL = provider.issuer
    settings.OIDC_CLIENT_ID = CLIENT_ID
    settings.OIDC_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_SCOPES = "openid profile email groups"
    settings.OIDC_PROVIDER_NAME = "Example ID"
    settings.OIDC_TIMEOUT = 5
    settings.SITE_URL = site_url
    for name, value in extra.items():
        setattr(settings, name, value)
