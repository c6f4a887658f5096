"""The text simulator: sends a text to a running gateway exactly as Twilio posts it, signed."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

import requests

from ivr_gateway.simulator import SimulatorError
from ivr_gateway.telephony.signature import sign


def message_form(message_sid: str, account_sid: str, from_number: str, to_number: str,
                 body: str) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS."""
    return {"MessageSid": message_sid, "SmsSid": message_sid, "SmsMessageSid": message_sid,
            "AccountSid": account_sid, "MessagingServiceSid": "", "From": from_number,
            "To": to_number, "Body": body, "NumMedia": "0", "NumSegments": "1",
            "SmsStatus": "received", "ApiVersion": "2010-04-01"}


def replies_in(twiml: bytes) -> list[str]:
    """The <Message> texts of a TwiML answer (none: the gateway sends no reply)."""
    try:
        root = ET.fromstring(twiml)  # noqa: S314 - our own gateway's TwiML
    except ET.ParseError as error:
        raise SimulatorError(f"the gateway did not answer TwiML: {error}") from None
    if root.tag != "Response":
        raise SimulatorError(f"TwiML root is <{root.tag}>, not <Response>")
    return [(m.text or "").strip() for m in root.iter("Message")]


def send_text(base_url: str, auth_token: str, *, account_sid: str, gateway_number: str,
              from_number: str, body: str, message_sid: str | None = None,
              http: requests.Session | None = None, timeout: float = 15.0) -> list[str]:
    """POST one text to {base_url}/twilio/sms as Twilio would; return the replies."""
    url = f"{base_url.rstrip('/')}/twilio/sms"
    form = message_form(message_sid or "SM" + secrets.token_hex(16), account_sid, from_number,
                        gateway_number, body)
    poster = http or requests
    response = poster.post(url, data=form, timeout=timeout,
                           headers={"X-Twilio-Signature": sign(auth_token, url, form)})
    if response.status_code != 200:
        raise SimulatorError(f"POST {url} answered {response.status_code}: "
                             f"{response.text.strip()[:200]}")
    return replies_in(response.content)
