"""`salesmigo outbox`: an operator's view of refused events, on a real outbox file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from salesmigo.cameras.events import GestureEvent
from salesmigo.cameras.outbox import Outbox
from salesmigo.cli.camera_cmd import default_outbox
from salesmigo.cli.main import app

AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("SALESMIGO_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def path(data: Path) -> Path:
    """The default outbox of camera "door 1": three events, the first two refused."""
    path = default_outbox(data, "door 1")
    with Outbox(path) as box:
        for n in range(3):
            box.put(GestureEvent(occurred_at=AT, track_id=f"t{n}", gesture="fist", confidence=1))
        for seq, _ in box.peek(2):
            box.reject(seq, 422, f"refused {seq}")
    return path


def run(*args: str | Path, answer: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["outbox", *map(str, args)], input=answer)
    return result.exit_code, result.stdout, result.stderr


def test_list_and_show_say_what_was_refused_and_why(path: Path) -> None:
    code, out, _ = run("list", "--camera", "door 1", "--json")
    assert code == 0
    listed = json.loads(out)
    assert listed["pending"] == 1
    assert [(x["seq"], x["type"], x["status"], x["reason"]) for x in listed["dead_letters"]] == [
        (1, "gesture", 422, "refused 1"),
        (2, "gesture", 422, "refused 2"),
    ]
    code, out, _ = run("show", "2", "--outbox", path)
    assert code == 0
    assert json.loads(out)["event"]["track_id"] == "t1"
    code, out, _ = run("list", "--outbox", path)
    assert "2 dead letter(s); 1 event(s) waiting" in out


def test_requeue_and_drop_change_the_outbox(path: Path) -> None:
    assert run("requeue", "1", "--outbox", path)[0] == 0
    assert run("drop", "2", "--outbox", path, answer="y\n")[0] == 0
    with Outbox(path) as box:
        assert box.dead_letters() == []
        assert [event.track_id for _, event in box.peek(10)] == ["t2", "t0"]


@pytest.mark.parametrize(
    ("args", "answer", "message"),
    [
        (("show", "7"), None, "no dead letter numbered 7"),
        (("requeue",), None, "or --all"),
        (("requeue", "1", "--all"), None, "not both"),
        (("requeue", "1", "9"), None, "no dead letter numbered 9 in"),
        (("drop", "1"), "n\n", "nothing was dropped"),
        (("drop", "1"), None, "nothing was dropped"),  # no terminal to answer from
    ],
)
def test_bad_input_fails_with_a_sentence_and_changes_nothing(
    path: Path, args: tuple[str, ...], answer: str | None, message: str
) -> None:
    code, _, err = run(*args, "--outbox", path, answer=answer)
    assert code == 1
    assert message in " ".join(err.split())
    with Outbox(path) as box:
        assert len(box.dead_letters()) == 2
        assert box.pending() == 1


def test_the_outbox_must_be_named_and_exist(data: Path, tmp_path: Path) -> None:
    assert "--outbox PATH or --camera NAME" in run("list")[2]
    assert "no outbox at" in run("list", "--outbox", tmp_path / "none.sqlite")[2]
    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("hello")
    code, _, err = run("list", "--outbox", not_sqlite)
    assert code == 1
    assert "is not a camera outbox" in err
