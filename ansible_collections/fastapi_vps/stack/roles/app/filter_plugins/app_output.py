"""Filters for the app role's failure messages: the end of a command's output, secrets masked."""

from collections.abc import Iterable

MASK = "********"


def app_tail(text: object, lines: int = 30, secrets: Iterable[object] = ()) -> str:
    """The last `lines` lines of `text`, with every secret value replaced by a mask."""
    tail = "\n".join(str(text or "").splitlines()[-lines:])
    # Longest first, so a secret holding another is masked whole.
    for secret in sorted({str(s) for s in secrets if str(s)}, key=len, reverse=True):
        tail = tail.replace(secret, MASK)
    return tail


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"app_tail": app_tail}
