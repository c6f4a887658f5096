"""A carer's spoken concern, played to office staff through the dashboard.

Twilio keeps the recording and serves it only to the account's credentials, so a plain link to
it asks a coordinator for a Twilio password they do not (and must not) have. The dashboard
fetches it for a logged-in coordinator, with the account's credentials, from Twilio's API only
(never from whatever URL a row holds), and passes the audio on without storing it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Response, abort, render_template, stream_with_context

from ivr_gateway import extensions
from ivr_gateway.models import ConcernRecording
from ivr_gateway.office.auth import requires
from ivr_gateway.office.models import OfficeRole
from ivr_gateway.office.views import blueprint

FETCH_TIMEOUT = 15.0  # seconds to connect and to wait for each chunk from Twilio
CHUNK = 64 * 1024


def is_twilio_recording_url(url: str, api_base: str) -> bool:
    """True for a recording under Twilio's API base (same scheme and host, under its path)."""
    got, base = urlsplit(url), urlsplit(api_base)
    return (got.scheme == base.scheme and got.netloc == base.netloc
            and got.path.startswith(base.path.rstrip("/") + "/")
            and "/Recordings/" in got.path and not got.query and not got.fragment)


@blueprint.get("/concerns/<int:concern_id>/recording")
@requires(OfficeRole.COORDINATOR)
def concern_recording(concern_id: int) -> Any:
    """The concern's audio (MP3), fetched from Twilio for the logged-in coordinator."""
    with extensions.database().unit_of_work() as session:
        concern = session.get(ConcernRecording, concern_id)
        url = concern.recording_url if concern is not None else None
    if url is None:
        abort(404)
    settings = extensions.settings()
    if not is_twilio_recording_url(url, settings.twilio_api_base):
        return _unavailable("This recording is not on Twilio's servers, so it cannot be played "
                            "here.", 404)
    try:
        fetched = requests.get(url.removesuffix(".mp3") + ".mp3", stream=True,
                               timeout=FETCH_TIMEOUT,
                               auth=(settings.twilio_account_sid, settings.twilio_auth_token))
    except requests.RequestException:
        return _unavailable("Twilio could not be reached for this recording. Try again in a "
                            "minute.", 502)
    if fetched.status_code != 200:
        fetched.close()
        return _unavailable(f"Twilio did not give this recording (it answered "
                            f"{fetched.status_code}); it may have been deleted there.", 502)
    return Response(stream_with_context(_chunks(fetched)), mimetype="audio/mpeg", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="concern-{concern_id}.mp3"'})


def _chunks(fetched: requests.Response) -> Any:
    try:
        yield from fetched.iter_content(CHUNK)
    finally:
        fetched.close()


def _unavailable(message: str, status: int) -> Any:
    return render_template("office/error.html", title="Recording not available",
                           message=message), status
