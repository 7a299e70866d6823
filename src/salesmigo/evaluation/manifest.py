"""Reading the test-data TSV files: MANIFEST.tsv and the verification pairs list."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PAIRS_COLUMNS = ("path_a", "path_b", "same")
MANIFEST_COLUMNS = ("path", "kind", "label")

_TRUE = frozenset({"1", "true", "yes", "same"})
_FALSE = frozenset({"0", "false", "no", "different"})


class DatasetFileError(ValueError):
    """A manifest or pairs file cannot be used; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Pair:
    """Two images (paths relative to the data root) and whether they show the same person."""

    path_a: str
    path_b: str
    same: bool


@dataclass(frozen=True)
class ManifestRow:
    """One file of the test data: its path relative to the data root, kind and label."""

    path: str
    kind: str
    label: str


def _read_tsv(path: Path, required: Sequence[str], what: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of a tab-separated file with a header, as (line number, column -> value)."""
    if not path.exists():
        raise DatasetFileError(f"the {what} file {path} does not exist.")
    if not path.is_file():
        raise DatasetFileError(f"the {what} file {path} is a folder, not a file.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetFileError(f"the {what} file {path} is not UTF-8 text.") from None
    except OSError as error:
        raise DatasetFileError(
            f"the {what} file {path} cannot be read: {error.strerror}."
        ) from None
    lines = text.splitlines()
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None:
        raise DatasetFileError(f"the {what} file {path} is empty.")
    header = [name.strip() for name in header]
    missing = [name for name in required if name not in header]
    if missing:
        raise DatasetFileError(
            f"the {what} file {path} has no column(s) {', '.join(missing)} in its header "
            f"(expected tab-separated columns {', '.join(required)})."
        )
    position = {name: header.index(name) for name in required}
    rows: list[tuple[int, dict[str, str]]] = []
    for line_number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        if len(cells) <= max(position.values()):
            raise DatasetFileError(
                f"line {line_number} of {path} has {len(cells)} column(s); "
                f"expected at least {max(position.values()) + 1}, separated by tabs."
            )
        rows.append((line_number, {name: cells[at].strip() for name, at in position.items()}))
    return rows


def _parse_same(value: str, line_number: int, path: Path) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise DatasetFileError(
        f"line {line_number} of {path} has same={value!r}; expected 1 (same person) or 0."
    )


def read_pairs(path: Path) -> list[Pair]:
    """Pairs from a TSV with the header ``path_a path_b same``, in file order.

    ``same`` is 1 or 0 (true/false and yes/no are accepted too). Raises DatasetFileError.
    """
    pairs = []
    for line_number, row in _read_tsv(path, PAIRS_COLUMNS, "pairs"):
        if not row["path_a"] or not row["path_b"]:
            raise DatasetFileError(f"line {line_number} of {path} has an empty image path.")
        pairs.append(
            Pair(row["path_a"], row["path_b"], _parse_same(row["same"], line_number, path))
        )
    if not pairs:
        raise DatasetFileError(f"the pairs file {path} lists no pairs.")
    return pairs


def read_manifest(path: Path) -> list[ManifestRow]:
    """Rows of a MANIFEST.tsv (header with at least ``path kind label``), in file order.

    Raises DatasetFileError.
    """
    rows = []
    for line_number, row in _read_tsv(path, MANIFEST_COLUMNS, "manifest"):
        if not row["path"]:
            raise DatasetFileError(f"line {line_number} of {path} has an empty path.")
        rows.append(ManifestRow(row["path"], row["kind"], row["label"]))
    return rows


def rows_of_kind(rows: Sequence[ManifestRow], *kinds: str) -> list[ManifestRow]:
    """The rows whose kind is one of ``kinds``, in manifest order."""
    return [row for row in rows if row.kind in kinds]
