"""Reading TF.js weight manifests and shards, on tiny manifests written to tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.vision.tfjs import TfjsFormatError, read_weights


def _write(folder: Path, groups: list[dict[str, object]], shards: dict[str, bytes]) -> Path:
    for name, data in shards.items():
        (folder / name).write_bytes(data)
    manifest = folder / "model-weights_manifest.json"
    manifest.write_text(json.dumps(groups), encoding="utf-8")
    return manifest


def test_float32_tensors_are_read_in_order_with_their_shapes(tmp_path: Path) -> None:
    kernel = np.arange(12, dtype="<f4").reshape(2, 3, 2)
    bias = np.array([0.5, -1.5], dtype="<f4")
    manifest = _write(
        tmp_path,
        [
            {
                "paths": ["model.bin"],
                "weights": [
                    {"name": "conv/kernel", "shape": [2, 3, 2], "dtype": "float32"},
                    {"name": "conv/bias", "shape": [2], "dtype": "float32"},
                ],
            }
        ],
        {"model.bin": kernel.tobytes() + bias.tobytes()},
    )

    weights = read_weights(manifest)

    assert list(weights) == ["conv/kernel", "conv/bias"]
    np.testing.assert_array_equal(weights["conv/kernel"], kernel)
    np.testing.assert_array_equal(weights["conv/bias"], bias)
    assert all(value.dtype == np.float32 for value in weights.values())


@pytest.mark.parametrize(
    ("quantized", "stored"),
    [("uint8", np.array([0, 1, 128, 255], "<u1")), ("uint16", np.array([0, 7, 300, 65535], "<u2"))],
)
def test_quantized_tensors_are_dequantized_as_scale_times_q_plus_min(
    tmp_path: Path, quantized: str, stored: NDArray[np.unsignedinteger[Any]]
) -> None:
    scale, minimum = 0.0057930146946626555, -0.7125408074435067
    manifest = _write(
        tmp_path,
        [
            {
                "paths": ["model.bin"],
                "weights": [
                    {
                        "name": "w",
                        "shape": [2, 2],
                        "dtype": "float32",
                        "quantization": {"dtype": quantized, "scale": scale, "min": minimum},
                    }
                ],
            }
        ],
        {"model.bin": stored.tobytes()},
    )

    weights = read_weights(manifest)

    expected = (stored.astype(np.float64) * scale + minimum).astype(np.float32).reshape(2, 2)
    np.testing.assert_array_equal(weights["w"], expected)
    assert weights["w"][0, 0] == pytest.approx(minimum)


def test_float16_quantization_and_tensors_split_across_shards(tmp_path: Path) -> None:
    half = np.array([1.5, -2.25, 65504.0], dtype="<f2")
    full = np.array([3.0, 4.0], dtype="<f4")
    stream = half.tobytes() + full.tobytes()  # 6 + 8 bytes, cut in the middle of `full`
    manifest = _write(
        tmp_path,
        [
            {
                "paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"],
                "weights": [
                    {
                        "name": "half",
                        "shape": [3],
                        "dtype": "float32",
                        "quantization": {"dtype": "float16"},
                    },
                    {"name": "full", "shape": [2], "dtype": "float32"},
                ],
            }
        ],
        {"group1-shard1of2.bin": stream[:9], "group1-shard2of2.bin": stream[9:]},
    )

    weights = read_weights(manifest)

    np.testing.assert_array_equal(weights["half"], half.astype(np.float32))
    np.testing.assert_array_equal(weights["full"], full)


def _single(tmp_path: Path, entry: dict[str, object], data: bytes, paths: object = None) -> Path:
    group = {"paths": paths if paths is not None else ["model.bin"], "weights": [entry]}
    return _write(tmp_path, [group], {"model.bin": data})


FOUR_FLOATS = np.zeros(4, "<f4").tobytes()


@pytest.mark.parametrize(
    ("entry", "data", "paths", "message"),
    [
        ({"name": "w", "shape": [4], "dtype": "float32"}, FOUR_FLOATS[:12], None, "shards end"),
        ({"name": "w", "shape": [3], "dtype": "float32"}, FOUR_FLOATS, None, "tensors use 12"),
        ({"name": "w", "shape": [4], "dtype": "int32"}, FOUR_FLOATS, None, "only float32"),
        (
            {
                "name": "w",
                "shape": [4],
                "dtype": "float32",
                "quantization": {"dtype": "int8", "scale": 1, "min": 0},
            },
            FOUR_FLOATS,
            None,
            "quantized as 'int8'",
        ),
        (
            {"name": "w", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8"}},
            FOUR_FLOATS[:4],
            None,
            "scale/min",
        ),
        ({"name": "w", "shape": [4], "dtype": "float32"}, FOUR_FLOATS, ["other.bin"], "missing"),
        (
            {"name": "w", "shape": [4], "dtype": "float32"},
            FOUR_FLOATS,
            ["../outside.bin"],
            "outside",
        ),
        ({"shape": [4], "dtype": "float32"}, FOUR_FLOATS, None, "lacks name"),
    ],
)
def test_broken_manifests_are_refused_with_a_reason(
    tmp_path: Path, entry: dict[str, object], data: bytes, paths: object, message: str
) -> None:
    manifest = _single(tmp_path, entry, data, paths)

    with pytest.raises(TfjsFormatError, match=message):
        read_weights(manifest)


def test_a_manifest_that_is_not_json_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "model-weights_manifest.json"
    manifest.write_text("{not json", encoding="utf-8")

    with pytest.raises(TfjsFormatError, match="not valid JSON"):
        read_weights(manifest)
