# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end of a command's output with secrets masked, for the app role's failure messages.
Documentation: output_tail.yml beside this file (ansible-doc -t filter ...output_tail)."""

from __future__ import annotations

import typing as t
from collections.abc import Iterable

MASK = "********"


def output_tail(text: object, lines: int = 30, secrets: Iterable[object] = ()) -> str:
    """The last `lines` lines of `text`, with every secret value replaced by a mask."""
    tail = "\n".join(str(text or "").splitlines()[-lines:])
    # Longest first, so a secret holding another is masked whole.
    for secret in sorted({str(s) for s in secrets if str(s)}, key=len, reverse=True):
        tail = tail.replace(secret, MASK)
    return tail


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., str]]:
        return {"output_tail": output_tail}
