"""Container health check (Dockerfile HEALTHCHECK): exit 0 if /healthz on this container answers 200.

Standard library only, so it is cheap to run every few seconds and needs no curl in the image.
The request carries the first of ALLOWED_HOSTS as its Host header, so a production host list
(warroom.example.com) does not turn the probe into a 400. /healthz is exempt from the HTTPS
redirect, so plain HTTP on the container's port is enough.
"""

import http.client
import os
import sys


def probe_host(allowed_hosts):
    """A Host header Django will accept, from the ALLOWED_HOSTS environment value."""
    for host in allowed_hosts.split(","):
        host = host.strip()
        if not host:
            continue
        if host == "*":
            return "localhost"
        # ".example.com" allows example.com and its subdomains.
        return host.lstrip(".")
    return "localhost"


def main():
    port = int(os.environ.get("PORT", "8000"))
    host = probe_host(os.environ.get("ALLOWED_HOSTS", "localhost"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=4)
    try:
        conn.request("GET", "/healthz", headers={"Host": host})
        status = conn.getresponse().status
    except OSError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    if status != 200:
        print(f"healthcheck: /healthz answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
