from fastapi import APIRouter, HTTPException
from sqlmodel import select

from app.api.deps import SessionDep
from app.models import Item

router = APIRouter(prefix="/items", tags=["items"])


@router.get("/first", response_model=Item)
def read_first_item(session: SessionDep) -> Item:
    item = session.exec(select(Item).order_by(Item.id)).first()
    if item is None:
        raise HTTPException(status_code=404, detail="No items")
    return item
