"""The Procfile's web_twilio line, run for real: gunicorn with two gthread workers serves the
webhooks-only app, sums both workers' figures on /metrics (multiprocess mode) and logs JSON."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from ivr_gateway.config import DEV_TWILIO_AUTH_TOKEN, PROJECT_ROOT
from ivr_gateway.telephony.signature import sign
from tests.live_server import free_port
from tests.operations.conftest import METRICS_TOKEN

pytestmark = pytest.mark.slow


def procfile_command(process_type: str) -> str:
    """The command of a process type in the Procfile."""
    for line in (PROJECT_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name == process_type:
            return command.strip()
    raise AssertionError(f"no {process_type} in the Procfile")


@contextmanager
def procfile_process(process_type: str, tmp_path: Path, sqlite_template: Path
                     ) -> Iterator[tuple[str, Path]]:
    """A Procfile web process on a copy of the migrated SQLite database: (base URL, its log)."""
    database = tmp_path / "gateway.sqlite3"
    database.write_bytes(sqlite_template.read_bytes())
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "IVR_GATEWAY_ENV": "test", "DATABASE_URL": f"sqlite:///{database}",
           "METRICS_TOKEN": METRICS_TOKEN, "TWILIO_PORT": str(port), "PORT": str(port),
           "PROMETHEUS_MULTIPROC_ROOT": str(tmp_path / "metrics"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - the Procfile's own line, through a shell
            ["/bin/sh", "-c", "exec env " + procfile_command(process_type)], env=env,
            cwd=PROJECT_ROOT, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or a worker still booting
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture
def web_twilio(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Path]]:
    """The Procfile's web_twilio process."""
    with procfile_process("web_twilio", tmp_path, sqlite_template) as running:
        yield running


def test_web_twilio_serves_webhooks_and_sums_its_workers_metrics(
        web_twilio: tuple[str, Path]) -> None:
    base, log = web_twilio
    for n in range(8):
        params = {"MessageSid": f"SM{n:032d}", "From": "+447700900123",
                  "To": "+441134960000", "Body": "HELP"}
        answer = requests.post(f"{base}/twilio/sms", data=params, timeout=10, headers={
            "X-Twilio-Signature": sign(DEV_TWILIO_AUTH_TOKEN, f"{base}/twilio/sms", params)})
        assert answer.status_code == 200 and "<Message>" in answer.text
    assert requests.get(f"{base}/office/", timeout=10).status_code == 404
    assert requests.get(f"{base}/api/v1/openapi.json", timeout=10).status_code == 404
    metrics = requests.get(f"{base}/metrics", timeout=10,
                           headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics.text)
               for s in family.samples}
    # Eight texts, whichever of the two workers took each.
    assert samples[("ivr_gateway_webhook_duration_seconds_count", (("kind", "sms"),))] == 8
    lines = [json.loads(line) for line in log.read_text().splitlines()
             if line.startswith("{")]
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["message"]
               for line in lines)  # gunicorn's own lines are JSON too
    sms_lines = [line for line in lines if line.get("kind") == "sms"]
    assert len(sms_lines) == 8
    assert all(re.fullmatch(r"SM\d{32}", line["message_sid"]) for line in sms_lines)
    assert len({line["request_id"] for line in sms_lines}) == 8


def test_web_serves_the_dashboard_the_api_and_the_webhooks(tmp_path: Path,
                                                            sqlite_template: Path) -> None:
    with procfile_process("web", tmp_path, sqlite_template) as (base, log):
        # Each of the two workers warms up (templates compiled) before its first request.
        deadline = time.monotonic() + 30
        while len(warmed := [json.loads(line)["message"]
                             for line in log.read_text().splitlines()
                             if line.startswith("{") and '"ivr_gateway.warm_up"' in line]) < 2:
            assert time.monotonic() < deadline, warmed
            time.sleep(0.2)
        assert len(warmed) == 2 and all(re.fullmatch(r"warmed up: \d+ templates compiled "
                                                     r"in [\d.]+ s", m) for m in warmed), warmed
        assert int(warmed[0].split()[2]) > 20  # the dashboard's pages, not only the errors
        assert requests.get(f"{base}/office/login", timeout=10).status_code == 200
        assert requests.get(f"{base}/api/v1/openapi.json", timeout=10).status_code == 200
        params = {"MessageSid": "SM" + "9" * 32, "From": "+447700900123",
                  "To": "+441134960000", "Body": "HELP"}
        answer = requests.post(f"{base}/twilio/sms", data=params, timeout=10, headers={
            "X-Twilio-Signature": sign(DEV_TWILIO_AUTH_TOKEN, f"{base}/twilio/sms", params)})
        assert answer.status_code == 200
