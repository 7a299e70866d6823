"""Which FaceMesh points outline a face as the 68-point layout does, and their box.

FaceMesh itself runs on real photos in tests/integration/test_expression_model.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from salesmigo.vision.face_mesh import (
    JAW_LINE,
    MESH_POINTS,
    OUTLINE_68,
    UPPER_EYEBROWS,
    outline_box,
)


def test_the_outline_is_the_jaw_line_and_the_upper_eyebrows() -> None:
    assert OUTLINE_68 == JAW_LINE + UPPER_EYEBROWS
    assert len(set(OUTLINE_68)) == len(OUTLINE_68)
    assert all(0 <= index < MESH_POINTS for index in OUTLINE_68)
    assert 152 in JAW_LINE  # the chin: the bottom of the 68-point jaw line (point 8)
    assert len(UPPER_EYEBROWS) == 10  # five a brow, as the 68-point layout's 17-26


def test_the_box_spans_the_outline_points_only() -> None:
    points = np.full((MESH_POINTS, 2), 50.0, dtype=np.float32)
    points[OUTLINE_68[0]] = (10.0, 40.0)
    points[OUTLINE_68[-1]] = (90.0, 20.0)
    points[152] = (50.0, 95.0)
    points[1] = (500.0, 500.0)  # the nose tip is not on the outline: it cannot widen the box

    assert outline_box(points) == pytest.approx((10.0, 20.0, 80.0, 75.0))


def test_the_iris_points_of_a_refined_mesh_are_accepted() -> None:
    points = np.zeros((478, 2), dtype=np.float32)
    points[OUTLINE_68[0]] = (4.0, 3.0)

    assert outline_box(points) == pytest.approx((0.0, 0.0, 4.0, 3.0))


@pytest.mark.parametrize("shape", [(68, 2), (468, 3), (468,)])
def test_other_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="FaceMesh landmarks"):
        outline_box(np.zeros(shape, dtype=np.float32))


def test_non_finite_landmarks_are_refused() -> None:
    points = np.zeros((MESH_POINTS, 2), dtype=np.float32)
    points[OUTLINE_68[3]] = (np.nan, 1.0)

    with pytest.raises(ValueError, match="finite"):
        outline_box(points)
