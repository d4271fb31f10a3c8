"""Fuzzing the API from its own OpenAPI schema: no 500s, no responses outside the schema."""

import re
import subprocess
from pathlib import Path

from app_support import BIN, StartServer

SEED = "20261122"
MAX_EXAMPLES = "40"


def test_schemathesis_finds_nothing(
    start_server: StartServer, alice_token: str, tmp_path: Path
) -> None:
    server = start_server()
    result = subprocess.run(
        [
            str(BIN / "st"),
            "run",
            f"{server.url}/openapi.json",
            # Every check: server errors, status codes, content types, headers and bodies
            # against the schema, negative data rejected, auth not ignored, Allow headers...
            "--checks=all",
            f"--header=Authorization: Bearer {alice_token}",
            f"--max-examples={MAX_EXAMPLES}",
            f"--seed={SEED}",
            "--request-timeout=10",
        ],
        # Its run data goes in its working directory, which is not to be the checkout.
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    print(result.stdout[-2500:])
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr
    tested = re.search(r"Tested: +(\d+)", result.stdout)
    assert tested is not None
    assert int(tested.group(1)) >= 9
    assert re.search(r"(\d+) generated, \1 passed", result.stdout), result.stdout[-2500:]
    # The app never logged an unhandled error while being fuzzed.
    log = server.log()
    assert '"level": "ERROR"' not in log
    assert "Traceback" not in log
