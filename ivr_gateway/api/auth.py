"""Bearer-token authentication of /api/v1: every endpoint but the OpenAPI document."""

from __future__ import annotations

from flask import g, request
from sqlalchemy import select

from ivr_gateway import extensions
from ivr_gateway.api.blueprint import blueprint
from ivr_gateway.api.errors import ApiError
from ivr_gateway.api.models import ApiToken
from ivr_gateway.hashing import hash_api_token

UNAUTHENTICATED_ENDPOINTS = frozenset({"api.openapi"})


@blueprint.before_request
def authenticate() -> None:
    """Refuse a request without a live bearer token; note the caller as g.api_actor."""
    if request.endpoint in UNAUTHENTICATED_ENDPOINTS:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "Send the header 'Authorization: Bearer <token>'; "
                       "the office creates tokens with 'ivr-gateway api-token create NAME'.")
    with extensions.database().unit_of_work() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(token)))
        if row is None:
            raise ApiError(401, "invalid_token", "The bearer token is not recognised; check it "
                           "was copied whole, or ask the office for a new one.")
        if row.revoked_at is not None:
            raise ApiError(401, "token_revoked", f"The token {row.name!r} has been revoked; ask "
                           "the office for a new one.")
        row.last_used_at = extensions.clock().now()
        g.api_actor = f"api:{row.name}"
