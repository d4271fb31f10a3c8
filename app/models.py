"""Request and response bodies. Strings that PostgreSQL cannot store are refused up front."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MESSAGE_MAX_LENGTH = 2000
MAX_OFFSET = 1_000_000
MAX_ID = 2**63 - 1  # PostgreSQL bigint
# Whitespace spelled out: regex engines (the server's, and JSON Schema's ECMA-262 used by
# clients) disagree on what \s covers, and both sides must judge input alike.
_BLANK = r"\t\n\v\f\r "


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates are not valid UTF-8: both would
    # otherwise surface as a database error instead of a 422.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


Email = Annotated[
    str,
    StringConstraints(
        to_lower=True,
        min_length=3,
        max_length=254,
        pattern=rf"^[^@{_BLANK}\x00]+@[^@{_BLANK}\x00]+$",
    ),
    AfterValidator(_storable),
]
Password = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00]*$"),
    AfterValidator(_storable),
]


class Credentials(BaseModel):
    """OAuth2 password grant fields; `username` is the user's e-mail address."""

    model_config = ConfigDict(extra="ignore")

    username: Email
    password: Password


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a credential
    expires_in: int = Field(description="Seconds until the token expires.")


class User(BaseModel):
    id: int
    email: str
    created_at: datetime


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: Annotated[
        str,
        # Not blank and no NUL, said in the schema so clients judge input as the server does.
        StringConstraints(
            min_length=1,
            max_length=MESSAGE_MAX_LENGTH,
            pattern=rf"^[^\x00]*[^{_BLANK}\x00][^\x00]*$",
        ),
        AfterValidator(_storable),
    ]


class Message(BaseModel):
    id: int
    body: str
    author_id: int
    created_at: datetime


class MessagePage(BaseModel):
    items: list[Message]
    total: int
    limit: int
    offset: int


class ErrorResponse(BaseModel):
    detail: str


# For endpoints that validate their own body: the same shape FastAPI documents elsewhere.
VALIDATION_ERROR: dict[str, Any] = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}


class ReadinessResponse(BaseModel):
    status: str = Field(description="`ok`, or `unavailable` when any check failed.")
    checks: dict[str, str] = Field(description="Each dependency: `ok` or why it failed.")


class VersionResponse(BaseModel):
    release: str
    host: str


class LivenessResponse(BaseModel):
    status: str
