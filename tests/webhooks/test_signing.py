"""Our Standard Webhooks signatures, checked by an independent implementation (standardwebhooks)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from ivr_gateway.webhooks.signing import InvalidSignature, new_secret, signed_headers, verify

BODY = json.dumps({"type": "log_event.recorded", "data": {"planned_visit_ref": "V1"}})


def test_the_standard_webhooks_library_accepts_our_signature() -> None:
    secret = new_secret()
    now = int(time.time())
    headers = signed_headers(secret, "msg_1_0_7", now, BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_the_library_refuses_our_signature_of_another_body_or_with_another_secret() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "msg_1_0_7", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("V1", "V2"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_our_receiver_check_accepts_what_the_library_signs_and_refuses_a_replay() -> None:
    secret = new_secret()
    at = datetime.now(UTC).replace(microsecond=0)
    signature = Webhook(secret).sign("msg_x", at, BODY)
    headers = {"webhook-id": "msg_x", "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": signature}
    verify(secret, headers, BODY, int(at.timestamp()))  # no exception: accepted
    with pytest.raises(InvalidSignature):
        verify(secret, headers, BODY, int(at.timestamp()) + 301)  # too old: a replay
    with pytest.raises(InvalidSignature):
        verify(secret, {**headers, "webhook-id": "msg_y"}, BODY, int(at.timestamp()))


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert secret != new_secret()
    import base64
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
