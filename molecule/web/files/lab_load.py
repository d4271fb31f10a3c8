"""Sends HTTPS requests, each on a new connection, until a stop file appears; prints a count.

Usage: lab_load.py URL CAFILE STOPFILE
"""

import http.client
import json
import os
import ssl
import sys
import time
import urllib.parse

url, cafile, stopfile = sys.argv[1:4]
parsed = urllib.parse.urlsplit(url)
context = ssl.create_default_context(cafile=cafile)
ok = failed = 0
errors = []
serials = set()
deadline = time.monotonic() + 120
while not os.path.exists(stopfile) and time.monotonic() < deadline:
    try:
        conn = http.client.HTTPSConnection(
            parsed.hostname, parsed.port or 443, context=context, timeout=5
        )
        conn.connect()
        serials.add(conn.sock.getpeercert()["serialNumber"])
        conn.request("GET", parsed.path or "/")
        status = conn.getresponse().status
        conn.close()
        if status == 200:
            ok += 1
        else:
            failed += 1
            errors.append(f"status {status}")
    except Exception as exc:
        failed += 1
        errors.append(repr(exc))
    time.sleep(0.02)
print(json.dumps({"ok": ok, "failed": failed, "errors": errors[:10], "serials": sorted(serials)}))
