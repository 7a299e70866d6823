"""The faiss SIMD level, kept at one where bfloat16 rows are measured exactly.

faiss picks its kernels by what the CPU can do. On Xeons with AVX512_BF16 (Sapphire
Rapids and later, the ``AVX512_SPR`` level) its bfloat16 scalar quantiser rounds the
*query* to bfloat16 too, to use the CPU's bfloat16 dot products. The exact index scans
the high plane of its templates with that kernel (gallery.halves) and proves its answer
from the distances to the truncated rows being exact; with the query rounded they were
off by about 1e-3 on such a Xeon, and a near tie came out in the wrong order. So at
import the level is checked on a probe, and lowered until the kernel measures exactly.
"""

from __future__ import annotations

import logging

import faiss
import numpy as np

_log = logging.getLogger(__name__)
_PROBE_DIMENSION = 64
# Float32 rounding of a 64-term sum; the bfloat16 query rounding is ~1000x larger.
_RELATIVE_TOLERANCE = 1e-5
_FALLBACKS = ("AVX512", "AVX2", "NONE")


def bfloat16_is_exact() -> bool:
    """Whether faiss's bfloat16 scan, at the current level, measures rows held exactly in
    bfloat16 against a float32 query without rounding the query."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(64, _PROBE_DIMENSION)).astype(np.float32)
    rows = (rows.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)  # bfloat16 values
    query = rng.normal(size=(1, _PROBE_DIMENSION)).astype(np.float32)
    index = faiss.IndexScalarQuantizer(_PROBE_DIMENSION, faiss.ScalarQuantizer.QT_bf16)
    index.add(rows)
    distances, found = index.search(query, len(rows))
    gaps = rows[found[0]].astype(np.float64) - query.astype(np.float64)
    expected = np.einsum("ij,ij->i", gaps, gaps)
    return bool(np.allclose(distances[0], expected, rtol=_RELATIVE_TOLERANCE, atol=0))


def keep_bfloat16_exact() -> str:
    """Lower faiss's SIMD level until :func:`bfloat16_is_exact`; the level in use."""
    config = faiss.SIMDConfig
    started = config.get_level_name()
    for name in (None, *_FALLBACKS):
        if name is not None:
            level = getattr(faiss, f"SIMDLevel_{name}")
            if not config.is_simd_level_available(level):
                continue
            config.set_level(level)
        if bfloat16_is_exact():
            break
    else:
        raise RuntimeError("faiss measures bfloat16 rows inexactly at every SIMD level")
    if config.get_level_name() != started:
        _log.info(
            "faiss SIMD level %s -> %s: bfloat16 rows measured exactly",
            started,
            config.get_level_name(),
        )
    return str(config.get_level_name())


__all__ = ["bfloat16_is_exact", "keep_bfloat16_exact"]
