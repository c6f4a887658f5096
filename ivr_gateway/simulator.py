"""The phone simulator: plays a call against a running gateway exactly as Twilio would.

Signed form posts, TwiML followed verb by verb (Say, Gather, Redirect, Record, Hangup), and what
the carer would hear printed. It talks HTTP only, so it works against any gateway it can reach.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests

from ivr_gateway.telephony.signature import sign

MAX_STEPS = 40  # a flow that never ends is a bug; stop rather than loop forever


class SimulatorError(RuntimeError):
    """The gateway answered something Twilio could not follow; the message says what."""


@dataclass
class Transcript:
    """What happened on a simulated call."""

    call_sid: str
    heard: list[str] = field(default_factory=list)
    keyed: list[str] = field(default_factory=list)
    requests: int = 0
    hung_up_by_gateway: bool = False

    def words_heard(self) -> int:
        """Words spoken to the carer."""
        return sum(len(t.split()) for t in self.heard)

    def keys_pressed(self) -> int:
        """Keys the carer pressed."""
        return sum(len(k) for k in self.keyed)


# What the carer keys at one <Gather>: digits, or a decision on what they heard so far.
Keys = str | Callable[["Transcript"], str | None]


class PhoneSimulator:
    """A fake phone network in front of a gateway at base_url, signing with the auth token."""

    def __init__(self, base_url: str, auth_token: str, *, account_sid: str,
                 gateway_number: str, http: requests.Session | None = None,
                 echo: Callable[[str], None] | None = None, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.gateway_number = gateway_number
        self.http = http or requests.Session()
        self.echo = echo or (lambda _line: None)
        self.timeout = timeout  # Twilio gives a webhook 15 s before it gives up

    def _post(self, url: str, params: dict[str, str]) -> requests.Response:
        signature = sign(self.auth_token, url, params)
        response = self.http.post(url, data=params, timeout=self.timeout,
                                  headers={"X-Twilio-Signature": signature})
        return response

    def _twiml(self, url: str, params: dict[str, str], transcript: Transcript) -> ET.Element:
        transcript.requests += 1
        response = self._post(url, params)
        if response.status_code != 200:
            raise SimulatorError(f"POST {url} answered {response.status_code}: "
                                 f"{response.text.strip()[:200]}")
        try:
            return ET.fromstring(response.content)  # noqa: S314 - our own gateway's TwiML
        except ET.ParseError as error:
            raise SimulatorError(f"POST {url} did not answer TwiML: {error}") from None

    def call(self, from_number: str, key_groups: Sequence[Keys], *,
             record_concern_seconds: int = 0) -> Transcript:
        """Ring the gateway from a number and key each group into successive <Gather>s.

        A group may be a decision on what was heard so far (a function of the transcript giving
        the digits, or None to key nothing): a carer who listens to the read-back and presses 9
        only if it is wrong. When the keys run out, the carer keys nothing more: Twilio then
        follows the verb after the <Gather> (as when a real caller stays silent) until the
        gateway hangs up.
        """
        call_sid = "CA" + secrets.token_hex(16)
        transcript = Transcript(call_sid)
        base = {"CallSid": call_sid, "AccountSid": self.account_sid, "From": from_number,
                "To": self.gateway_number, "Direction": "inbound", "ApiVersion": "2010-04-01"}
        keys = list(key_groups)
        url = f"{self.base_url}/twilio/voice"
        root = self._twiml(url, {**base, "CallStatus": "ringing"}, transcript)
        for _ in range(MAX_STEPS):
            next_request = self._follow(root, url, keys, transcript, record_concern_seconds)
            if next_request is None:
                break
            url, extra = next_request
            root = self._twiml(url, {**base, "CallStatus": "in-progress", **extra}, transcript)
        else:
            raise SimulatorError(f"the call did not end within {MAX_STEPS} steps")
        self._post(f"{self.base_url}/twilio/status",
                   {**base, "CallStatus": "completed", "CallDuration": "30"})
        return transcript

    def _say(self, element: ET.Element, transcript: Transcript) -> None:
        text = (element.text or "").strip()
        transcript.heard.append(text)
        self.echo(f"  gateway: {text}")

    def _follow(self, root: ET.Element, current_url: str, keys: list[Keys],
                transcript: Transcript, record_seconds: int
                ) -> tuple[str, dict[str, str]] | None:
        """Play the verbs of one TwiML document; return the next request, or None at hang-up."""
        if root.tag != "Response":
            raise SimulatorError(f"TwiML root is <{root.tag}>, not <Response>")
        for verb in root:
            if verb.tag == "Say":
                self._say(verb, transcript)
            elif verb.tag == "Gather":
                for child in verb:
                    if child.tag == "Say":
                        self._say(child, transcript)
                group = keys.pop(0) if keys else None
                digits = group(transcript) if callable(group) else group
                if digits is not None:
                    transcript.keyed.append(digits)
                    self.echo(f"  carer keys: {digits}")
                    action = urljoin(current_url, verb.attrib.get("action", current_url))
                    return action, {"Digits": digits}
                self.echo("  carer keys: (nothing)")
            elif verb.tag == "Record":
                seconds = record_seconds or 5
                self.echo(f"  carer speaks for {seconds} s, then presses #")
                action = urljoin(current_url, verb.attrib.get("action", current_url))
                return action, {
                    "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/"
                                    f"{self.account_sid}/Recordings/RE{secrets.token_hex(16)}",
                    "RecordingSid": "RE" + secrets.token_hex(16),
                    "RecordingDuration": str(seconds), "Digits": "#"}
            elif verb.tag == "Redirect":
                return urljoin(current_url, (verb.text or "").strip()), {}
            elif verb.tag == "Hangup":
                transcript.hung_up_by_gateway = True
                self.echo("  (the gateway hangs up)")
                return None
            elif verb.tag == "Pause":
                continue
            else:
                raise SimulatorError(f"the simulator does not know the TwiML verb <{verb.tag}>")
        self.echo("  (the TwiML ended: Twilio hangs up)")
        return None
