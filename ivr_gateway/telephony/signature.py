"""Twilio webhook signatures: every /twilio/* request must carry a valid X-Twilio-Signature."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Request, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from ivr_gateway import extensions

F = TypeVar("F", bound=Callable[..., Any])


def public_url(req: Request, public_base_url: str) -> str:
    """The URL Twilio called, as Twilio signed it.

    Behind a proxy the app sees its internal address, so PUBLIC_BASE_URL (when set) replaces the
    scheme and host; path and query string are kept exactly as received.
    """
    if not public_base_url:
        return req.url
    query = req.query_string.decode("latin-1")
    return public_base_url + req.path + (f"?{query}" if query else "")


def signature_matches(auth_token: str, url: str, form: MultiDict[str, str],
                      signature: str) -> bool:
    """True when `signature` is Twilio's X-Twilio-Signature for this URL and POSTed form.

    The URL exactly as we know it is tried first: one HMAC, which is what Twilio signed in
    practice. Only if that fails does twilio's RequestValidator try its variants (the URL with
    and without an explicit port), as Twilio's own libraries accept them.
    """
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    if hmac.compare_digest(validator.compute_signature(url, form), signature):
        return True
    return bool(validator.validate(url, form, signature))


def is_signed_by_twilio(req: Request, auth_token: str, public_base_url: str) -> bool:
    """Check X-Twilio-Signature over the URL and the POSTed form (request.form, not values)."""
    return signature_matches(auth_token, public_url(req, public_base_url), req.form,
                             req.headers.get("X-Twilio-Signature", ""))


def twilio_signed(view: F) -> F:
    """Refuse (403, nothing stored) any request that Twilio did not sign."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = extensions.settings()
        if not is_signed_by_twilio(request, settings.twilio_auth_token, settings.public_base_url):
            return Response("Forbidden: invalid or missing X-Twilio-Signature.\n", status=403,
                            mimetype="text/plain")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Compute the signature Twilio would send for a POST (the simulator and tests use this)."""
    return str(RequestValidator(auth_token).compute_signature(url, params))
