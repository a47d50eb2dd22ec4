"""POST /api/v2/feedback: users rate recommendations; the weekly mapping update learns from them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy.exc import SQLAlchemyError

from dra_common.db import session_scope
from dra_common.models import UserFeedback
from dra_gateway.deps import SettingsDep
from dra_gateway.schemas import FeedbackIn

router = APIRouter(prefix="/api/v2", tags=["feedback"])


@router.post("/feedback", status_code=201)
def feedback(body: FeedbackIn, settings: SettingsDep) -> dict[str, Any]:
    """Store one feedback row in `user_feedback`."""
    if body.user_rating is None and not body.feedback_text:
        raise HTTPException(status_code=422, detail="give a user_rating (1-5) or a feedback_text")
    try:
        with session_scope(settings) as session:
            row = UserFeedback(**body.model_dump())
            session.add(row)
            session.flush()
            return {"id": row.id, "stored": True}
    except SQLAlchemyError as exc:
        raise HTTPException(status_code=503, detail="feedback store (Postgres) unavailable") from exc
