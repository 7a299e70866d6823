from pathlib import Path

import pytest

from salesmigo.evaluation.manifest import (
    DatasetFileError,
    ManifestRow,
    Pair,
    read_manifest,
    read_pairs,
    rows_of_kind,
)


def _write(tmp_path: Path, text: str, name: str = "file.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_pairs(tmp_path: Path) -> None:
    path = _write(tmp_path, "path_a\tpath_b\tsame\na.jpg\tb.jpg\t1\n\nc.jpg\td.jpg\t0\n")
    assert read_pairs(path) == [Pair("a.jpg", "b.jpg", True), Pair("c.jpg", "d.jpg", False)]


def test_read_pairs_columns_in_any_order(tmp_path: Path) -> None:
    path = _write(tmp_path, "same\tpath_b\tpath_a\nfalse\tb.jpg\ta.jpg\n")
    assert read_pairs(path) == [Pair("a.jpg", "b.jpg", False)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"is empty"),
        ("path_a\tpath_b\n", r"no column\(s\) same"),
        ("path_a path_b same\na b 1\n", r"no column\(s\) path_a, path_b, same"),
        ("path_a\tpath_b\tsame\n", r"lists no pairs"),
        ("path_a\tpath_b\tsame\na.jpg\tb.jpg\tmaybe\n", r"line 2 .* same='maybe'"),
        ("path_a\tpath_b\tsame\na.jpg\tb.jpg\n", r"line 2 .* 2 column\(s\)"),
        ("path_a\tpath_b\tsame\na.jpg\t\t1\n", r"line 2 .* empty image path"),
    ],
)
def test_read_pairs_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DatasetFileError, match=message):
        read_pairs(_write(tmp_path, text))


def test_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileError, match=r"pairs file .* does not exist"):
        read_pairs(tmp_path / "absent.tsv")
    with pytest.raises(DatasetFileError, match=r"manifest file .* is a folder"):
        read_manifest(tmp_path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "binary.tsv"
    path.write_bytes(b"\xff\xfe\x00\x81\x82")
    with pytest.raises(DatasetFileError, match="not UTF-8"):
        read_manifest(path)


def test_read_manifest_keeps_order_and_ignores_extra_columns(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "path\tkind\tlabel\tlicense\n"
        "x/b1.jpg\tidentity\tbob\tMIT\n"
        "x/happy.jpg\texpression\thappy\tMIT\n"
        "x/a1.jpg\tidentity\talice\tMIT\n",
    )
    rows = read_manifest(path)
    assert rows == [
        ManifestRow("x/b1.jpg", "identity", "bob"),
        ManifestRow("x/happy.jpg", "expression", "happy"),
        ManifestRow("x/a1.jpg", "identity", "alice"),
    ]
    assert [row.path for row in rows_of_kind(rows, "identity")] == ["x/b1.jpg", "x/a1.jpg"]


def test_read_manifest_needs_kind_and_label(tmp_path: Path) -> None:
    with pytest.raises(DatasetFileError, match=r"no column\(s\) kind, label"):
        read_manifest(_write(tmp_path, "path\tnotes\na.jpg\tx\n"))
