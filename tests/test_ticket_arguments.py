"""Issue 13 item 19: ``forensics ticket`` checks its arguments before loading, and an empty
result is a warning with its reason (CLI: non-zero exit, no ticket), never a ticket of 0 events
without a word."""

from __future__ import annotations

import contextlib
import io

import pytest
from _loader_helpers import record, write_json

import forensics as fx
from forensics.cli import main
from forensics.export._ticket import EmptyResultWarning


@pytest.fixture
def data(tmp_path):
    write_json(tmp_path / "data" / "t.json", {"Records": [record(i) for i in range(5)]})
    return tmp_path / "data"


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_a_bad_time_is_a_usage_error_before_any_load(data, tmp_path, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("loaded before the arguments were checked")

    monkeypatch.setattr(fx, "load", no_load)
    code, _, err = _run(
        [
            "ticket",
            str(data),
            "--principal",
            "alice",
            "--since",
            "2026-03-40",
            "--out",
            str(tmp_path / "t"),
        ]
    )
    assert code == 2 and "Traceback" not in err
    code, _, err = _run(
        [
            "ticket",
            str(data),
            "--principal",
            "alice",
            "--since",
            "2024-03-06",
            "--until",
            "2024-03-05",
            "--out",
            str(tmp_path / "t"),
        ]
    )
    assert code == 2 and "not before" in err
    assert not (tmp_path / "t").exists()


def test_a_window_after_the_trail_is_an_error_with_its_reason(data, tmp_path):
    code, _, err = _run(
        [
            "ticket",
            str(data),
            "--principal",
            "alice",
            "--since",
            "2025-01-01",
            "--no-cache",
            "--out",
            str(tmp_path / "t"),
        ]
    )
    assert code == 1
    assert "starts after the trail's last event" in err
    assert not (tmp_path / "t").exists()


def test_the_notebook_is_told_why_a_ticket_is_empty(data, tmp_path):
    trail = fx.load(data, cache=False)
    with pytest.warns(EmptyResultWarning, match="case included"):
        fx.export.ticket(trail.where(event_name="listbuckets"), tmp_path / "t")
