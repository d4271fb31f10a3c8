"""The domain: messages. Reads are public and cached; writes need a bearer token."""

import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from app import repository
from app.auth import CurrentUser
from app.cache import REDIS_FAILURES
from app.deps import CacheDep, PoolDep
from app.models import MAX_ID, MAX_OFFSET, ErrorResponse, Message, MessageIn, MessagePage
from app.ws import HubDep

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/messages", tags=["messages"])

MessageId = Annotated[int, Path(ge=1, le=MAX_ID)]
_UNAUTHORIZED = {401: {"model": ErrorResponse, "description": "Missing or bad token."}}
_NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such message."}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Message,
    responses={
        400: {"model": ErrorResponse, "description": "Body is not valid JSON."},
        **_UNAUTHORIZED,
    },
)
async def create_message(
    payload: MessageIn,
    user: CurrentUser,
    response: Response,
    pool: PoolDep,
    cache: CacheDep,
    hub: HubDep,
) -> Message:
    """Stores the message, then invalidates the list cache and announces it to every
    WebSocket client on every worker."""
    message = await repository.create_message(pool, payload.body, user.id)
    await cache.invalidate()
    try:
        await hub.publish(message.model_dump_json())
    except REDIS_FAILURES as exc:
        # Stored is what counts; live delivery is best effort.
        log.warning("publish failed", extra={"error": type(exc).__name__})
    response.headers["Location"] = f"{router.prefix}/{message.id}"
    return message


@router.get("", response_model=MessagePage)
async def list_messages(
    pool: PoolDep,
    cache: CacheDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Newest first. Served from the Redis cache when it can be; `X-Cache` says which."""
    generation = await cache.generation()
    cached = await cache.get(generation, limit, offset)
    if cached is not None:
        return Response(cached, media_type="application/json", headers={"X-Cache": "hit"})
    items, total = await repository.list_messages(pool, limit, offset)
    page = MessagePage(items=items, total=total, limit=limit, offset=offset)
    body = page.model_dump_json().encode()
    await cache.put(generation, limit, offset, body)
    return Response(body, media_type="application/json", headers={"X-Cache": "miss"})


@router.get("/{message_id}", response_model=Message, responses={**_NOT_FOUND})
async def get_message(message_id: MessageId, pool: PoolDep) -> Message:
    message = await repository.get_message(pool, message_id)
    if message is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="message not found")
    return message


@router.delete(
    "/{message_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={
        **_UNAUTHORIZED,
        403: {"model": ErrorResponse, "description": "Not the author."},
        **_NOT_FOUND,
    },
)
async def delete_message(
    message_id: MessageId, user: CurrentUser, pool: PoolDep, cache: CacheDep
) -> Response:
    """Only the author may delete a message."""
    message = await repository.get_message(pool, message_id)
    if message is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="message not found")
    if message.author_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the author may delete it")
    if await repository.delete_message(pool, message_id):
        await cache.invalidate()
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    raise HTTPException(status.HTTP_404_NOT_FOUND, detail="message not found")
