"""faiss runs at a SIMD level where bfloat16 rows are measured exactly (the exact index's
proof depends on it; at AVX512_SPR faiss rounds the query to bfloat16 too)."""

from __future__ import annotations

import faiss

from salesmigo.gallery import kernels
from salesmigo.gallery.simd_level import bfloat16_is_exact, keep_bfloat16_exact


def test_importing_the_kernels_leaves_bfloat16_exact() -> None:
    assert kernels.high_plane_knn is not None
    assert bfloat16_is_exact()


def test_the_best_level_this_cpu_has_is_lowered_only_as_far_as_needed() -> None:
    config = faiss.SIMDConfig
    kept = config.get_level()
    try:
        config.set_level(config.auto_detect_simd_level())
        exact_at_best = bfloat16_is_exact()
        best = config.get_level_name()
        level = keep_bfloat16_exact()
        assert bfloat16_is_exact()
        assert level == config.get_level_name()
        assert (level == best) == exact_at_best
    finally:
        config.set_level(kept)
