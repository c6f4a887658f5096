"""Twilio webhooks of the escalation: the alert call's TwiML and its key press.

Office staff's `ACK` texts arrive on the SMS package's /twilio/sms, which hands them to
ivr_gateway.escalation.acknowledgement.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from ivr_gateway import extensions
from ivr_gateway.escalation.acknowledgement import acknowledge_by_call
from ivr_gateway.escalation.models import AlertNotification, AlertState
from ivr_gateway.escalation.notifications import check_call_token
from ivr_gateway.escalation.wording import spoken_alert
from ivr_gateway.telephony.signature import twilio_signed

blueprint = Blueprint("escalation", __name__)

VOICE = {"language": "en-GB", "voice": "Polly.Amy"}


def _base_url() -> str:
    return extensions.settings().public_base_url or request.url_root.rstrip("/")


def _twiml(response: VoiceResponse | MessagingResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _say_and_hang_up(text: str) -> Response:
    response = VoiceResponse()
    response.say(text, **VOICE)
    response.hangup()
    return _twiml(response)


@blueprint.post("/twilio/alert-call/<int:notification_id>")
@twilio_signed
def alert_call(notification_id: int) -> Any:
    """The alert call answered: say the alert and 'press 1 to acknowledge' inside a Gather."""
    token = request.args.get("token", "")
    settings = extensions.settings()
    if not check_call_token(settings.secret_key, notification_id, token):
        return _say_and_hang_up("This alert link is not valid. Goodbye.")
    with extensions.database().unit_of_work() as session:
        notification = session.get(AlertNotification, notification_id)
        if notification is None:
            return _say_and_hang_up("This alert no longer exists. Goodbye.")
        if request.args.get("storm") == "1":
            # A storm's one call: it says the storm and the board (its words were stored as
            # the call's body), twice, and asks nothing: there is no single alert to take.
            response = VoiceResponse()
            for _ in range(2):
                response.say(notification.body, **VOICE)
                response.pause(length=1)
            response.say("Goodbye.", **VOICE)
            response.hangup()
            return _twiml(response)
        alert = notification.alert
        if alert.state is not AlertState.OPEN:
            return _say_and_hang_up(f"{spoken_alert(alert)} It is already {alert.state.value}. "
                                    "Goodbye.")
        text = spoken_alert(alert)
    attempt = int(request.args.get("attempt", "1") or 1)
    key_url = f"{_base_url()}/twilio/alert-call/{notification_id}/key?token={token}"
    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, timeout=8, action=key_url,
                             method="POST", finish_on_key="")
    gather.say(f"{text} Press 1 to acknowledge.", **VOICE)
    if attempt < 2:
        response.redirect(f"{_base_url()}/twilio/alert-call/{notification_id}"
                          f"?token={token}&attempt={attempt + 1}", method="POST")
    else:
        response.say("Not acknowledged. The alert will go to the next person. Goodbye.", **VOICE)
        response.hangup()
    return _twiml(response)


@blueprint.post("/twilio/alert-call/<int:notification_id>/key")
@twilio_signed
def alert_call_key(notification_id: int) -> Any:
    """A key pressed on the alert call: 1 acknowledges; anything else hears the alert again."""
    token = request.args.get("token", "")
    if request.form.get("Digits", "") != "1":
        response = VoiceResponse()
        response.redirect(f"{_base_url()}/twilio/alert-call/{notification_id}?token={token}",
                          method="POST")
        return _twiml(response)
    with extensions.database().unit_of_work() as session:
        result = acknowledge_by_call(session, notification_id, token, extensions.clock().now(),
                                     extensions.settings())
    if result is None:
        return _say_and_hang_up("This alert link is not valid. Goodbye.")
    return _say_and_hang_up(result.message + " Goodbye.")
