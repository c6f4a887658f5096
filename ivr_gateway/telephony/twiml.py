"""TwiML for the call flows: prompts inside <Gather> so a practised carer can key ahead."""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse


def gather(texts: list[str], *, language: str, voice: str, num_digits: int, timeout: int,
           action_url: str, silence_url: str) -> str:
    """Say the texts inside a <Gather> ended by numDigits; on silence, redirect to silence_url."""
    response = VoiceResponse()
    g: Gather = response.gather(input="dtmf", num_digits=num_digits, timeout=timeout,
                                action=action_url, method="POST", finish_on_key="")
    for text in texts:
        g.say(text, language=language, voice=voice)
    response.redirect(silence_url, method="POST")
    return str(response)


def record(texts: list[str], *, language: str, voice: str, max_length: int, finish_on_key: str,
           action_url: str) -> str:
    """Say the texts, then record (Twilio posts RecordingUrl to action_url)."""
    response = VoiceResponse()
    for text in texts:
        response.say(text, language=language, voice=voice)
    response.record(action=action_url, method="POST", max_length=max_length,
                    finish_on_key=finish_on_key, play_beep=True, trim="trim-silence")
    return str(response)


def say_and_hang_up(texts: list[str], *, language: str, voice: str) -> str:
    """Say the texts and end the call."""
    response = VoiceResponse()
    for text in texts:
        response.say(text, language=language, voice=voice)
    response.hangup()
    return str(response)
