"""The spool on disk: one file per item, written whole, in order; and its command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session

from ivr_gateway.cli import main
from ivr_gateway.db import Database
from ivr_gateway.telephony.spool import Spool, SpoolError
from tests.factories import make_adult, make_care_worker, make_planned_visit
from tests.sms.texting import add_token, code_at

AT = datetime(2026, 1, 13, 9, 2, tzinfo=UTC)


def test_items_come_back_oldest_first_whatever_order_they_were_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.put("text", "SM2", AT + timedelta(minutes=5), {"body": "OUT 1"}, AT)
    spool.put("call", "CA1", AT, {"from": "+441134960001"}, AT)
    spool.put("text", "SM1", AT + timedelta(minutes=1), {"body": "IN 1"}, AT)
    assert [i.item_id for i in spool.items()] == ["call:CA1", "text:SM1", "text:SM2"]
    depth = spool.depth()
    assert (depth.depth, depth.oldest_at) == (3, AT)
    assert depth.oldest_age_seconds(AT + timedelta(minutes=2)) == 120


def test_a_text_already_spooled_is_kept_as_first_written_and_a_call_is_rewritten(
        tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put("text", "SM1", AT, {"body": "IN 123456"}, AT)
    spool.put("text", "SM1", AT + timedelta(minutes=1), {"body": "changed"}, AT)
    spool.put("call", "CA1", AT, {"steps": 1}, AT)
    spool.put("call", "CA1", AT, {"steps": 2}, AT, replace=True)
    (text,) = [i for i in spool.items() if i.kind == "text"]
    assert text.fields == {"body": "IN 123456"} and text.at == AT
    assert spool.get("call", "CA1") is not None
    assert spool.get("call", "CA1").fields == {"steps": 2}  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call-CA1.json", "text-SM1.json"]


def test_an_odd_sid_never_becomes_a_path_and_a_torn_file_is_skipped(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    path = spool.put("text", "../../etc/passwd", AT, {}, AT)
    assert path.parent == tmp_path and ".." not in path.name
    (tmp_path / "text-SMtorn.json").write_text('{"kind": "text", "sid"')
    assert [i.sid for i in spool.items()] == ["../../etc/passwd"]
    assert spool.depth().unreadable == 1


def test_a_spool_the_disk_refuses_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "spool"
    blocked.write_text("a file where the folder should be")  # refused even to root
    with pytest.raises(SpoolError):
        Spool(blocked).put("text", "SM1", AT, {}, AT)
    assert list(tmp_path.iterdir()) == [blocked]


def test_spool_status_and_replay_from_the_command_line(
        database: Database, session: Session, tmp_path: Path) -> None:
    adult = make_adult(session, landlines=())
    carer = make_care_worker(session, mobiles=("+447911123450",))
    now = datetime.now(UTC)
    make_planned_visit(session, adult, [carer], start=now - timedelta(minutes=5))
    add_token(session, adult)
    session.commit()
    spool_dir = tmp_path / "spool"
    Spool(spool_dir).put("text", "SM" + "1" * 32, now, {
        "from": "+447911123450", "to": "+441134960000", "body": f"IN {code_at(now)}",
        "form": {}}, now)
    env = {"DATABASE_URL": database.url, "SPOOL_DIR": str(spool_dir)}
    status = CliRunner().invoke(main, ["spool", "status"], env=env)
    assert status.exit_code == 0, status.output
    assert "waiting: 1, the oldest from" in status.output and "replayed: none" in status.output
    replay = CliRunner().invoke(main, ["spool", "replay"], env=env)
    assert replay.exit_code == 0, replay.output
    assert replay.output.strip() == "replayed 1 logged"
    after = CliRunner().invoke(main, ["spool", "status"], env=env)
    assert "waiting: 0" in after.output and "replayed: 1 logged" in after.output
