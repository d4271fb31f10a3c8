"""Token issuing under /api/auth/, the prefix nginx rate-limits more strictly."""

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from app import repository
from app.auth import CurrentUser, create_token, verify_password
from app.deps import PoolDep, SettingsDep
from app.models import VALIDATION_ERROR, Credentials, ErrorResponse, Token, User

router = APIRouter(prefix="/api/auth", tags=["auth"])

_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_MAX_BODY = 16 * 1024
_credentials_schema = Credentials.model_json_schema()


async def _read_credentials(request: Request) -> Credentials:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in (_FORM, _JSON):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=f"send {_FORM} or {_JSON}"
        )
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail="request body too large")
    try:
        if media_type == _JSON:
            return Credentials.model_validate_json(body)
        fields: dict[str, Any] = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return Credentials.model_validate(fields)
    except UnicodeDecodeError as exc:
        raise RequestValidationError(
            [{"type": "unicode", "loc": ("body",), "msg": "body is not UTF-8", "input": None}]
        ) from exc
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from exc


@router.post(
    "/token",
    response_model=Token,
    responses={
        401: {"model": ErrorResponse, "description": "Wrong e-mail or password."},
        413: {"model": ErrorResponse, "description": "Body too large."},
        415: {"model": ErrorResponse, "description": "Neither form nor JSON."},
        422: VALIDATION_ERROR,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {"schema": _credentials_schema},
                _JSON: {"schema": _credentials_schema},
            },
        },
    },
)
async def issue_token(request: Request, settings: SettingsDep, pool: PoolDep) -> Token:
    """OAuth2 password grant: `username` (the e-mail) and `password`, as a form or JSON."""
    credentials = await _read_credentials(request)
    found = await repository.get_user_hash(pool, credentials.username)
    valid = await verify_password(credentials.password, found[1] if found else None)
    if found is None or not valid:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="incorrect username or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Token(
        access_token=create_token(found[0], settings),
        expires_in=settings.access_token_ttl_seconds,
    )


@router.get(
    "/me",
    response_model=User,
    responses={401: {"model": ErrorResponse, "description": "Missing or bad token."}},
)
async def me(user: CurrentUser) -> User:
    return user
