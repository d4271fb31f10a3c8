"""Latency at a fixed, moderate request rate over one kept-alive connection (HTTP or HTTPS).

wrk measures how much a server sustains; this measures what one request costs when the server
is not busy, which is where a proxy's and TLS's own overhead shows. Runs with Debian's python3
alone, on the host that sends the requests.

Prints one JSON object: {"requests", "failed", "p50_ms", "p99_ms"}.

Usage: rate.py URL RATE SECONDS [CAFILE]
"""

import http.client
import json
import math
import ssl
import sys
import time
from urllib.parse import urlsplit


def main() -> None:
    url, rate, seconds = urlsplit(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    cafile = sys.argv[4] if len(sys.argv) > 4 else None
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            url.hostname, url.port or 443, context=context, timeout=10
        )
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=10)
    path = url.path + (f"?{url.query}" if url.query else "")
    latencies: list[float] = []
    failed = 0
    interval = 1 / rate
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        # A fixed schedule: a slow answer does not push the next request back.
        time.sleep(max(0.0, started + n * interval - time.perf_counter()))
        sent = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
            conn.close()
            continue
        latencies.append((time.perf_counter() - sent) * 1000)
    latencies.sort()

    def nearest_rank(share: float) -> float:
        return round(latencies[max(0, math.ceil(share * len(latencies)) - 1)], 2)

    result = {"requests": len(latencies) + failed, "failed": failed}
    result |= {"p50_ms": nearest_rank(0.5), "p99_ms": nearest_rank(0.99)} if latencies else {}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
