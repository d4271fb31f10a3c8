"""Password hashing (argon2) and bearer tokens (JWT, HS256)."""

import asyncio
import time
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app import repository
from app.deps import PoolDep, SettingsDep
from app.models import User
from app.settings import Settings

ALGORITHM = "HS256"
_hasher = PasswordHash((Argon2Hasher(),))
# Verified against when the user does not exist, so timing does not reveal which e-mails exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/auth/token.")


async def hash_password(password: str) -> str:
    # argon2 is deliberately slow; keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    return await asyncio.to_thread(_hasher.verify, password, password_hash or _DUMMY_HASH)


def create_token(user_id: int, settings: Settings) -> str:
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + settings.access_token_ttl_seconds}
    return jwt.encode(claims, settings.secret, algorithm=ALGORITHM)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def user_id_from_token(token: str, settings: Settings) -> int:
    try:
        claims = jwt.decode(
            token, settings.secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise _unauthorized("invalid or expired token") from exc


async def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: SettingsDep,
    pool: PoolDep,
) -> User:
    if credentials is None:
        raise _unauthorized("not authenticated")
    user_id = user_id_from_token(credentials.credentials, settings)
    if not 0 < user_id < 2**63:
        raise _unauthorized("invalid or expired token")
    user = await repository.get_user(pool, user_id)
    if user is None:
        # A valid signature for a user that no longer exists.
        raise _unauthorized("invalid or expired token")
    return user


CurrentUser = Annotated[User, Depends(current_user)]
