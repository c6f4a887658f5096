"""A test double of Twilio's side of a webhook: signs requests the way Twilio does."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ivr_gateway.telephony.signature import sign

BASE = "http://localhost"


@dataclass
class TwimlResponse:
    """A webhook's answer, with its TwiML parsed as XML."""

    response: TestResponse
    root: ET.Element

    @property
    def status_code(self) -> int:
        """The HTTP status."""
        return self.response.status_code

    def said(self) -> list[str]:
        """Every <Say> text, in order, including those inside <Gather>."""
        return [el.text or "" for el in self.root.iter("Say")]

    def text(self) -> str:
        """Everything said, joined."""
        return " ".join(self.said())

    def gather(self) -> ET.Element | None:
        """The <Gather> verb, if any."""
        return self.root.find("Gather")

    def verbs(self) -> list[str]:
        """The top-level verbs in order."""
        return [child.tag for child in self.root]


class TwilioClient:
    """Posts form webhooks with a valid X-Twilio-Signature, like Twilio."""

    def __init__(self, client: FlaskClient, auth_token: str) -> None:
        self.client = client
        self.auth_token = auth_token

    def post(self, url: str, params: dict[str, str], *, signature: str | None = None
             ) -> TestResponse:
        """POST a form to a path or absolute URL, signed unless a signature is given."""
        full = url if url.startswith("http") else BASE + url
        if signature is None:
            signature = sign(self.auth_token, full, params)
        parts = urlsplit(full)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.client.post(path, data=params, headers={"X-Twilio-Signature": signature},
                                base_url=f"{parts.scheme}://{parts.netloc}")

    def post_twiml(self, url: str, params: dict[str, str]) -> TwimlResponse:
        """POST and parse the TwiML answer (asserting it is 200 XML)."""
        response = self.post(url, params)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype in ("text/xml", "application/xml")
        return TwimlResponse(response, ET.fromstring(response.get_data()))
