"""Asterisk's CDR and queue log read incrementally (gateway/reconcile.py): lines written in
pieces, a line half written, a rotated file, and calls forgotten only once reconciled."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from gateway.reconcile import CDR_FILE, QUEUE_LOG, AsteriskRecords, LogTail
from tests.test_reconcile import CDR
from tests.test_reconcile import QUEUE_LOG as QUEUE_LINES


def _records(tmp_path: Path) -> tuple[AsteriskRecords, Path, Path]:
    settings = records_settings(tmp_path)
    cdr, queue_log = tmp_path / CDR_FILE, tmp_path / QUEUE_LOG
    cdr.parent.mkdir(parents=True)
    return AsteriskRecords(settings), cdr, queue_log


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def test_a_tail_returns_only_complete_new_lines_and_rereads_a_replaced_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log"
    tail = LogTail(path)
    assert tail.read_new() == ""  # not written yet
    path.write_text("one\ntw")
    assert tail.read_new() == "one\n"
    _append(path, "o\nthree\n")
    assert tail.read_new() == "two\nthree\n"
    assert tail.read_new() == ""
    path.rename(tmp_path / "log.0")  # rotated: a new file in its place
    path.write_text("four\n")
    assert tail.read_new() == "four\n"
    path.write_text("5\n")  # cut short (copied and truncated) and written again
    assert tail.read_new() == "5\n"


def test_calls_read_in_pieces_match_the_whole_files_and_reconciled_ones_are_forgotten(
    tmp_path: Path,
) -> None:
    records, cdr, queue_log = _records(tmp_path)
    cdr_lines = CDR.splitlines(keepends=True)
    queue_lines = QUEUE_LINES.splitlines(keepends=True)

    _append(queue_log, "".join(queue_lines[:3]))  # the first caller queued and answered
    assert records.read() == {}  # no CDR line yet: nothing to reconcile
    _append(cdr, cdr_lines[0])
    _append(queue_log, "".join(queue_lines[3:]))
    first = records.read()
    assert set(first) == {"1795424319.0"}
    assert first["1795424319.0"].calltaker == "ct1"
    assert first["1795424319.0"].completed_at is not None

    records.forget(["1795424319.0"])
    _append(cdr, "".join(cdr_lines[1:]))
    second = records.read()
    assert set(second) == {"1795424326.2"}  # the reconciled call is not read again
    assert second["1795424326.2"].abandoned_at is not None
    assert second["1795424326.2"].wait_seconds == 5.0

    whole = AsteriskRecords(records_settings(tmp_path)).read()  # a gateway starting now
    assert set(whole) == {"1795424319.0", "1795424326.2"}
    assert whole["1795424326.2"] == second["1795424326.2"]


def records_settings(tmp_path: Path) -> Settings:
    return Settings(asterisk={"mode": "host", "instance_dir": str(tmp_path)})
