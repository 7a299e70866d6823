"""The salesmigo command line, run as a user runs it: a real process, real models, real photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from salesmigo.config import Settings
from salesmigo.vision.images import load_image
from salesmigo.vision.pipeline import FacePipeline

pytestmark = pytest.mark.integration

OBAMA = "face_recognition/examples/obama.jpg"
OBAMA_OTHER = "face_recognition/examples/obama2.jpg"
OBAMA_THIRD = "face_recognition/examples/knn_examples/test/obama1.jpg"
BIDEN = "face_recognition/examples/biden.jpg"
STRANGER = "face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg"


def salesmigo(data_dir: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESMIGO_")}
    env["SALESMIGO_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "salesmigo", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_clean_failure(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode != 0
    assert words in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_enrol_identify_list_show_delete(tmp_path: Path, testdata: Path) -> None:
    enrolled = ok_json(
        salesmigo(
            tmp_path,
            "enrol",
            "--name",
            "Barack Obama",
            "--email",
            "barack@example.com",
            "--consent",
            "--json",
            testdata / OBAMA,
        )
    )
    assert isinstance(enrolled, dict)
    assert enrolled["templates"] == 2  # SFace + dlib for one photo

    identified = ok_json(
        salesmigo(tmp_path, "identify", "--json", testdata / OBAMA_OTHER, testdata / STRANGER)
    )
    assert isinstance(identified, list)
    obama, stranger = identified
    assert obama["faces"][0]["decision"] == "match"
    assert obama["faces"][0]["customer"] == {"id": enrolled["id"], "name": "Barack Obama"}
    assert stranger["faces"][0]["decision"] == "unknown"

    listed = ok_json(salesmigo(tmp_path, "customers", "list", "--json"))
    assert [c["email"] for c in listed] == ["barack@example.com"]
    shown = ok_json(salesmigo(tmp_path, "customers", "show", str(enrolled["id"]), "--json"))
    assert shown == listed[0]

    ok_json(salesmigo(tmp_path, "customers", "delete", str(enrolled["id"]), "--yes", "--json"))
    assert ok_json(salesmigo(tmp_path, "customers", "list", "--json")) == []
    after = ok_json(salesmigo(tmp_path, "identify", "--json", testdata / OBAMA_OTHER))
    assert after[0]["faces"][0]["decision"] == "unknown"


def test_user_errors_are_sentences_and_store_nothing(tmp_path: Path, testdata: Path) -> None:
    enrol = ("enrol", "--name", "B", "--email", "b@example.com")
    assert_clean_failure(salesmigo(tmp_path, *enrol, testdata / OBAMA), "--consent")
    assert_clean_failure(
        salesmigo(tmp_path, *enrol, "--consent", tmp_path / "missing.jpg"), "missing.jpg"
    )
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not a photo")
    assert_clean_failure(
        salesmigo(tmp_path, *enrol, "--consent", testdata / OBAMA, not_image), "notes.jpg"
    )
    assert_clean_failure(salesmigo(tmp_path, "customers", "show", "77"), "does not exist")
    assert_clean_failure(salesmigo(tmp_path, "identify", not_image), "notes.jpg")
    assert ok_json(salesmigo(tmp_path, "customers", "list", "--json")) == []


def _descriptor(pipeline: FacePipeline, path: Path) -> dict[str, float]:
    frame = load_image(path, max_bytes=10**8, max_pixels=10**8)
    detection = pipeline.analyse(frame, "sface").faces[0].detection
    vector = pipeline.embed(frame, detection, "dlib").vector
    return {str(i): float(x) for i, x in enumerate(vector)}


def test_legacy_customers_are_recognised_and_upgrade_themselves(
    tmp_path: Path, testdata: Path
) -> None:
    pipeline = FacePipeline.default(Settings().vision)
    try:
        export = [
            {
                "_id": {"$oid": "62a0c0ffee"},
                "customer_name": "Barack Obama",
                "customer_email": "obama@prototype.example",
                "customer_img_descriptions": [_descriptor(pipeline, testdata / OBAMA)],
                "customer_img_label": "Barack Obama",
                "__v": 0,
            },
            {
                "customer_name": "Joe Biden",
                "customer_email": "biden@prototype.example",
                "customer_img_descriptions": [_descriptor(pipeline, testdata / BIDEN)],
            },
        ]
    finally:
        pipeline.close()
    export_file = tmp_path / "customers.json"
    export_file.write_text(json.dumps(export))

    report = ok_json(salesmigo(tmp_path, "import-legacy", export_file, "--json"))
    assert report == {"imported": 2, "skipped_existing": [], "templates": 2}
    again = ok_json(salesmigo(tmp_path, "import-legacy", export_file, "--json"))
    assert again == {
        "imported": 0,
        "skipped_existing": ["obama@prototype.example", "biden@prototype.example"],
        "templates": 0,
    }

    first = ok_json(salesmigo(tmp_path, "identify", "--json", testdata / OBAMA_OTHER))
    face = first[0]["faces"][0]
    assert (face["decision"], face["model"]) == ("match", "dlib")
    assert face["customer"]["name"] == "Barack Obama"

    listed = ok_json(salesmigo(tmp_path, "customers", "list", "--json"))
    templates = {c["name"]: c["templates"] for c in listed}
    assert templates == {"Barack Obama": 2, "Joe Biden": 1}  # one SFace template was added

    second = ok_json(salesmigo(tmp_path, "identify", "--json", testdata / OBAMA_THIRD))
    face = second[0]["faces"][0]
    assert (face["decision"], face["model"]) == ("match", "sface")
    assert face["customer"]["name"] == "Barack Obama"


def test_the_shipped_legacy_sample_imports(tmp_path: Path, testdata: Path) -> None:
    report = ok_json(
        salesmigo(tmp_path, "import-legacy", testdata / "legacy" / "customers.json", "--json")
    )
    assert report["imported"] == 3


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not a readable JSON"),
        ('{"customer_name": "x"}', "JSON list"),
        ('[{"customer_name": "A", "customer_email": "a@x"}]', "customer_img_descriptions"),
        (
            '[{"customer_name": "A", "customer_email": "a@x", '
            '"customer_img_descriptions": [{"0": 0.1}]}]',
            "component",
        ),
    ],
)
def test_a_bad_export_imports_nothing(tmp_path: Path, content: str, words: str) -> None:
    export_file = tmp_path / "export.json"
    export_file.write_text(content)
    assert_clean_failure(salesmigo(tmp_path, "import-legacy", export_file), words)
    assert ok_json(salesmigo(tmp_path, "customers", "list", "--json")) == []


def test_cameras_and_their_tokens(tmp_path: Path) -> None:
    added = ok_json(salesmigo(tmp_path, "cameras", "add", "door", "--role", "entrance", "--json"))
    ok_json(
        salesmigo(
            tmp_path, "cameras", "add", "coats-cam", "--role", "aisle", "--aisle", "Coats", "--json"
        )
    )
    listed = ok_json(salesmigo(tmp_path, "cameras", "list", "--json"))
    assert [(c["name"], c["role"]) for c in listed] == [
        ("coats-cam", "aisle"),
        ("door", "entrance"),
    ]
    assert added["role"] == "entrance"

    issued = salesmigo(tmp_path, "cameras", "token", "door")
    assert issued.returncode == 0, issued.stderr
    assert len(issued.stdout.strip()) >= 40
    assert "revoked 1 token" in salesmigo(tmp_path, "cameras", "revoke", "door").stdout
    assert_clean_failure(salesmigo(tmp_path, "cameras", "token", "nowhere"), "does not exist")
    assert_clean_failure(
        salesmigo(tmp_path, "cameras", "add", "door", "--role", "entrance"), "exists already"
    )
    assert_clean_failure(salesmigo(tmp_path, "cameras", "add", "x", "--role", "roof"), "role")


def test_demo_builds_its_store_once(tmp_path: Path, testdata: Path) -> None:
    first = salesmigo(tmp_path, "demo", "--no-serve", "--testdata", testdata)
    assert first.returncode == 0, first.stderr
    assert "customer(s) enrolled now, 0 already there" in first.stdout
    assert "/api/v1/identify" in first.stdout
    customers = ok_json(salesmigo(tmp_path, "customers", "list", "--json"))
    assert len(customers) >= 10
    cameras = ok_json(salesmigo(tmp_path, "cameras", "list", "--json"))
    assert {c["role"] for c in cameras} == {"entrance", "aisle"}

    again = salesmigo(tmp_path, "demo", "--no-serve", "--testdata", testdata)
    assert f"0 customer(s) enrolled now, {len(customers) - 3} already there" in again.stdout
    assert len(ok_json(salesmigo(tmp_path, "customers", "list", "--json"))) == len(customers)
