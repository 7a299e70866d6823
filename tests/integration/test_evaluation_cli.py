"""`salesmigo eval verify / identify` and `salesmigo embed` through the real CLI.

The model runs use a small subset of ../shared/testdata written to tmp_path, so they stay
fast; the bad-input tests need no models and no test data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from salesmigo.cli.main import app
from salesmigo.config import SFaceMatching
from tests.unit.evaluation.test_eval_embed import EMBED_RECORD_KEYS

# Default settings whatever the environment says, so the expected threshold is known.
ENV = {
    "SALESMIGO_RECOGNITION__DEFAULT_MODEL": "sface",
    "SALESMIGO_RECOGNITION__SFACE__THRESHOLD": None,
    "SALESMIGO_MATCH_THRESHOLD": None,
}
SUBSET_LABELS = ("John_Savage", "bbt_amy", "bbt_penny", "obama")
IMAGES_PER_IDENTITY = 3
PAIR_STRIDE = 140  # every 140th same and different pair of pairs.tsv: 5 of each, varied


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _subset_manifest(testdata: Path, tmp_path: Path) -> tuple[Path, list[list[str]]]:
    """The first images of a few identities, one expression image and a missing file."""
    with (testdata / "MANIFEST.tsv").open(encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter="\t"))
    header, body = rows[0], rows[1:]
    kind, label = header.index("kind"), header.index("label")
    chosen: list[list[str]] = []
    for wanted in SUBSET_LABELS:
        images = [row for row in body if row[kind] == "identity" and row[label] == wanted]
        chosen.extend(images[:IMAGES_PER_IDENTITY])
    expression = next(row for row in body if row[kind] == "expression")
    missing = ["nowhere/missing.jpg", "expression", "happy"] + [""] * (len(header) - 3)
    gesture = next(row for row in body if row[kind] == "gesture")  # not embedded
    manifest = _tsv(tmp_path / "MANIFEST.tsv", header, [*chosen, expression, missing, gesture])
    return manifest, chosen


@pytest.mark.integration
def test_eval_verify_json(testdata: Path, tmp_path: Path) -> None:
    with (testdata / "pairs.tsv").open(encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter="\t"))[1:]
    same = [row for row in rows if row[2] == "1"][::PAIR_STRIDE]
    different = [row for row in rows if row[2] == "0"][::PAIR_STRIDE]
    subset = [row for both in zip(same, different, strict=True) for row in both]
    pairs = _tsv(tmp_path / "pairs.tsv", ["path_a", "path_b", "same"], subset)

    code, stdout, stderr = _run(
        "eval", "verify", "--pairs", str(pairs), "--root", str(testdata), "--json"
    )

    assert code == 0, stderr
    report = json.loads(stdout)
    for key in (
        "accuracy",
        "accuracy_at_threshold",
        "threshold",
        "pairs",
        "no_face",
        "ms_per_image",
    ):
        assert key in report
    assert report["model"] == "sface"
    assert report["pairs"] == len(subset) == 10
    assert report["threshold"] == SFaceMatching().threshold
    assert report["no_face"] == 0
    assert report["accuracy"] >= 0.8
    assert report["accuracy_at_threshold"] >= 0.8
    assert report["ms_per_image"] > 0  # reported; how fast is the benchmarks' business


@pytest.mark.integration
def test_eval_identify_json(testdata: Path, tmp_path: Path) -> None:
    manifest, _ = _subset_manifest(testdata, tmp_path)

    code, stdout, stderr = _run(
        "eval", "identify", "--manifest", str(manifest), "--root", str(testdata), "--json"
    )

    assert code == 0, stderr
    report = json.loads(stdout)
    for key in ("rank1", "false_match_rate", "unknown_recall", "enrolled", "probes"):
        assert key in report
    # Sorted labels John_Savage, bbt_amy, bbt_penny, obama: the 2nd and 4th are strangers.
    assert report["enrolled"] == 2
    assert report["probes"] == 2 * (IMAGES_PER_IDENTITY - 1)
    assert report["strangers"] == 2
    assert report["stranger_images"] == 2 * IMAGES_PER_IDENTITY
    assert report["rank1"] > 0
    assert report["false_match_rate"] <= 0.5
    assert report["unknown_recall"] == pytest.approx(1 - report["false_match_rate"])


@pytest.mark.integration
def test_eval_identify_table(testdata: Path, tmp_path: Path) -> None:
    manifest, _ = _subset_manifest(testdata, tmp_path)
    code, stdout, stderr = _run(
        "eval", "identify", "--manifest", str(manifest), "--root", str(testdata)
    )
    assert code == 0, stderr
    assert "rank-1" in stdout
    assert "false-match rate" in stdout


@pytest.mark.integration
def test_embed_writes_one_json_line_per_face_image(testdata: Path, tmp_path: Path) -> None:
    manifest, identities = _subset_manifest(testdata, tmp_path)

    code, stdout, stderr = _run("embed", "--manifest", str(manifest), "--root", str(testdata))

    assert code == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == len(identities) + 2  # + the expression image and the missing file
    assert [r["path"] for r in records[: len(identities)]] == [row[0] for row in identities]
    for record in records:
        assert list(record) == EMBED_RECORD_KEYS
        assert record["model"] == "sface"
        assert (record["expressions"] is None) == (not record["found"])
        if record["found"]:
            assert sum(record["expressions"].values()) == pytest.approx(1.0, abs=1e-4)
    missing = records[-1]
    assert missing["found"] is False
    assert missing["descriptor"] is None
    assert missing["box"] is None
    assert "missing.jpg" in stderr
    found = records[:-1]
    assert all(r["found"] for r in found)
    assert all(len(r["descriptor"]) == 128 and len(r["box"]) == 4 for r in found)
    assert all(0 < r["det_score"] <= 1 for r in found)

    # Same person closer than different people, on average, for each identity.
    vectors = np.array([r["descriptor"] for r in records[: len(identities)]])
    people = np.repeat(np.arange(len(SUBSET_LABELS)), IMAGES_PER_IDENTITY)
    distances = np.linalg.norm(vectors[:, None] - vectors[None], axis=2)
    for person in range(len(SUBSET_LABELS)):
        mine = people == person
        within = distances[np.ix_(mine, mine)][~np.eye(IMAGES_PER_IDENTITY, dtype=bool)]
        between = distances[np.ix_(mine, ~mine)]
        assert within.mean() < between.mean(), SUBSET_LABELS[person]


# Bad input: one sentence and a non-zero exit, never a stack trace. No models are loaded.


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("eval", "verify"), "--pairs"),
        (("eval", "identify"), "--manifest"),
        (("embed",), "--manifest"),
    ],
)
def test_missing_input_file(tmp_path: Path, command: tuple[str, ...], option: str) -> None:
    code, stdout, stderr = _run(
        *command, option, str(tmp_path / "absent.tsv"), "--root", str(tmp_path)
    )
    assert code != 0
    assert "does not exist" in stderr
    assert "Traceback" not in stderr + stdout


@pytest.mark.parametrize(
    ("command", "option", "header"),
    [
        (("eval", "verify"), "--pairs", ["path_a", "path_b", "same"]),
        (("eval", "identify"), "--manifest", ["path", "kind", "label"]),
        (("embed",), "--manifest", ["path", "kind", "label"]),
    ],
)
def test_missing_root(
    tmp_path: Path, command: tuple[str, ...], option: str, header: list[str]
) -> None:
    listing = _tsv(tmp_path / "list.tsv", header, [["a.jpg", "b.jpg", "1"]])
    code, stdout, stderr = _run(*command, option, str(listing), "--root", str(tmp_path / "nope"))
    assert code != 0
    assert "data folder" in stderr
    assert "does not exist" in stderr
    assert "Traceback" not in stderr + stdout


@pytest.mark.parametrize(
    ("command", "option", "header", "missing"),
    [
        (("eval", "verify"), "--pairs", ["path_a", "path_b"], "same"),
        (("eval", "identify"), "--manifest", ["path", "label"], "kind"),
        (("embed",), "--manifest", ["file", "kind", "label"], "path"),
    ],
)
def test_tsv_without_required_columns(
    tmp_path: Path, command: tuple[str, ...], option: str, header: list[str], missing: str
) -> None:
    listing = _tsv(tmp_path / "list.tsv", header, [["a.jpg", "b.jpg"]])
    code, stdout, stderr = _run(*command, option, str(listing), "--root", str(tmp_path))
    assert code != 0
    assert f"no column(s) {missing}" in stderr
    assert "Traceback" not in stderr + stdout


def test_manifest_without_identities(tmp_path: Path) -> None:
    listing = _tsv(tmp_path / "list.tsv", ["path", "kind", "label"], [["a.jpg", "gesture", "ok"]])
    code, _, stderr = _run("eval", "identify", "--manifest", str(listing), "--root", str(tmp_path))
    assert code != 0
    assert "no rows of kind 'identity'" in stderr
