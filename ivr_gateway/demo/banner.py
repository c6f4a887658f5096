"""What `ivr-gateway demo` prints: how to try each channel on the rota it just loaded.

Every claim is worked out from that rota and the settings (who is due where and when, whether the
office is open when the demo's alert climbs), so the banner stays true whatever the time of day;
tests/escalation/test_demo.py checks each claim against the loaded data.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ivr_gateway.config import Settings
from ivr_gateway.demo import CARERS, DemoInfo
from ivr_gateway.escalation.demo import DemoContact
from ivr_gateway.sms.codes import format_sheet_code


def alert_time(info: DemoInfo, settings: Settings) -> datetime:
    """When the late-start alert of Ben's visit at Mary's (DEMO-7) is due."""
    return info.planned_starts["DEMO-7"] + timedelta(minutes=settings.kpi.late_after)


def first_told(contacts: list[DemoContact], at: datetime, settings: Settings) -> DemoContact:
    """Who the ladder tells first at `at`: the coordinator in office hours, else the on-call
    person (on call for the demo's first 24 hours)."""
    open_ = settings.escalation.office_hours.is_open(at, settings.tz)
    return next(c for c in contacts if c.role == ("coordinator" if open_ else "on_call"))


def demo_banner(info: DemoInfo, contacts: list[DemoContact], settings: Settings,
                now: datetime, base_url: str, database_url: str, cli: str, env: str) -> str:
    """The whole banner. `cli` is how to run ivr-gateway; `env` what must precede a command
    that reads the demo's database (empty when it is the default one)."""
    tz = settings.tz
    today: date = now.astimezone(tz).date()
    amy, kasia, ben = CARERS
    carers = "\n".join(f"    {c.name:<12} carer number {c.staff_number}  PIN {c.pin}"
                       f"{'  (hears Polish)' if c.language == 'pl' else ''}" for c in CARERS)
    homes = "\n".join(f"    {n}  {who}" for n, who in info.landlines.items())
    sim = f"{cli} simulate call"

    def hm(ref: str) -> str:
        return f"{info.planned_starts[ref].astimezone(tz):%H:%M}"

    codes = ", ".join(format_sheet_code(c) for c in info.sheet_codes)
    due = alert_time(info, settings)
    told = first_told(contacts, due, settings)
    hours = settings.escalation.office_hours
    if told.role == "coordinator":
        who = f"Office hours then: {told.name}, the coordinator on duty, is texted first."
    else:
        who = (f"Out of office hours then (open {hours.opens:%H:%M}-{hours.closes:%H:%M} on "
               f"working days): {told.name}, on call, is texted and rung first.")
    ladder = "\n".join(f"    {c.role:<12} {c.name:<11} {c.mobile}" for c in contacts)
    return f"""
ivr-gateway demo: {base_url}  (database {database_url})

Carers:
{carers}
Client landlines:
{homes}

In another terminal, {amy.name.split()[0]} arrives at Joan Smith's home (due at {hm("DEMO-1")}) \
and logs in, then (call again) logs out:
    {sim} --from 01134960001 --keys {amy.staff_number},{amy.pin}
A withheld number: key the client number from the care plan (100001), then carer number and PIN:
    {sim} --from anonymous --keys 100001,{amy.staff_number},{amy.pin}
A shared landline (Mary and Peter Brown): press 1 or 2 for the client first (Kasia is due at
both, from {hm("DEMO-3")}):
    {sim} --from 01134960002 --keys 1,{kasia.staff_number},{kasia.pin}

By text: Amy reads the code on Joan's key-fob and texts IN and it (OUT when she leaves):
    {env}{cli} codes now {info.token_serial}
    {cli} simulate sms --from {amy.mobile} "IN <code>"
Kasia, due at Mary Brown's at {hm("DEMO-3")} with Ben (a double-up), texts a code from Mary's
printed sheet {info.sheet_number} ({codes}, ...); she is answered in Polish:
    {cli} simulate sms --from {kasia.mobile} "IN {format_sheet_code(info.sheet_codes[0])}"

The office dashboard: {base_url}/office/  log in as {info.office_username} / \
{info.office_password}
(the board refreshes itself: make a call above and watch Joan's visit change)

See today's visits with their actual times and outcomes:
    curl -s -H "Authorization: Bearer {info.api_token}" "{base_url}/api/v1/visits?date={today}"

Alerts (printed here instead of texted):
  Amy's visit to Edith Clarke at {hm("DEMO-2")} is already late: its alert comes at the first tick.
  {ben.name.split()[0]} is due at Mary Brown's at {hm("DEMO-7")} and will not log in: \
its late-start alert follows at {due.astimezone(tz):%H:%M}.
The ladder:
{ladder}
{who}
Acknowledge the latest alert by text from that mobile, or on the dashboard's Alerts page:
    {cli} simulate sms --from {told.mobile} "ACK"
or through the API (every alert, with its id, at /api/v1/alerts; alert 1 is Edith's):
    curl -s -X POST -H "Authorization: Bearer {info.api_token}" \\
         -H "Content-Type: application/json" \\
         -d '{{"by": "{told.name}"}}' {base_url}/api/v1/alerts/1/acknowledge

Ctrl-C stops the gateway.
"""
