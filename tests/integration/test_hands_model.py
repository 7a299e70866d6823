"""mediapipe Hands and the gesture rules on real photos from ../shared/testdata."""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from salesmigo.evaluation.gestures import GOAL_GESTURES, gesture_for_label, image_gesture
from salesmigo.vision.detect import MediapipeFaceDetector
from salesmigo.vision.gesture_labels import Gesture
from salesmigo.vision.gestures import classify
from salesmigo.vision.hand_links import link_hands
from salesmigo.vision.hands import LANDMARK_COUNT, HandDetector
from salesmigo.vision.images import load_image
from salesmigo.vision.types import Frame

pytestmark = pytest.mark.integration

HAGRID = "hagrid380/data/hagrid_380_resize336/images"
THUMBS_UP = f"{HAGRID}/like/like_00001.jpg"
# Webcam frames with the person's face and both hands in view.
TWO_FISTS = "handsdataset/images/26_pic00006.jpg"
TWO_PALMS = "handsdataset/images/96_pic00004.jpg"
# Hands the first pass finds, to crop tightly (a hand filling the whole image).
TIGHT = [
    f"{HAGRID}/like/like_00001.jpg",
    "hagrid/chart_tiles/fist.jpg",
    "hagrid/chart_tiles/dislike.jpg",
    "hagrid/chart_tiles/palm.jpg",
    "hagrid/chart_tiles/peace.jpg",
]


@cache
def _read(path: Path) -> Frame:
    return load_image(path, max_bytes=50 * 1024 * 1024, max_pixels=100_000_000)


@cache
def _goal_rows(testdata: Path) -> list[tuple[str, Gesture]]:
    with (testdata / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    labelled = [(row["path"], gesture_for_label(row["label"])) for row in rows]
    return [
        (path, gesture)
        for (path, gesture), row in zip(labelled, rows, strict=True)
        if row["kind"] == "gesture" and gesture in GOAL_GESTURES
    ]


@pytest.fixture(scope="module")
def detector() -> Iterator[HandDetector]:
    with HandDetector() as detector:
        yield detector


def _rotated(frame: Frame, degrees: float) -> Frame:
    """The frame turned ``degrees`` counter-clockwise on an enlarged canvas."""
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cosine, sine = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(height * sine + width * cosine), int(height * cosine + width * sine)
    matrix[0, 2] += new_width / 2 - width / 2
    matrix[1, 2] += new_height / 2 - height / 2
    turned = cv2.warpAffine(frame, matrix, (new_width, new_height), borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(turned, dtype=np.uint8)


def _gesture(detector: HandDetector, frame: Frame) -> Gesture | None:
    return image_gesture([classify(hand) for hand in detector.detect(frame)])


@pytest.mark.parametrize(
    "variant", ["as-is", "mirrored", "turned -30", "turned +30"], ids=lambda name: name
)
def test_goals_on_the_public_gesture_images(
    testdata: Path, detector: HandDetector, variant: str
) -> None:
    """The issue's goals: a hand in >= 95% of the images, >= 90% right where one is found.

    Mirrored and turned copies must classify as well; mediapipe finds a few hands fewer or
    more in them, so the hand-found bar is lower there.
    """
    rows = _goal_rows(testdata)
    assert len(rows) >= 80
    found = correct = 0
    wrong: list[str] = []
    for path, expected in rows:
        frame = _read(testdata / path)
        if variant == "mirrored":
            frame = np.ascontiguousarray(frame[:, ::-1])
        elif variant.startswith("turned"):
            frame = _rotated(frame, float(variant.split()[1]))
        predicted = _gesture(detector, frame)
        if predicted is None:
            continue
        found += 1
        if predicted is expected:
            correct += 1
        else:
            wrong.append(f"{path}: {expected} -> {predicted}")
    assert found / len(rows) >= (0.95 if variant == "as-is" else 0.90)
    assert correct / found >= 0.90, wrong


def test_landmarks_box_and_handedness(testdata: Path, detector: HandDetector) -> None:
    frame = _read(testdata / THUMBS_UP)
    height, width = frame.shape[:2]
    hands = detector.detect(frame)
    assert len(hands) == 1
    hand = hands[0]
    assert hand.landmarks.shape == (LANDMARK_COUNT, 3)
    assert hand.landmarks.dtype == np.float32
    assert hand.normalized.shape == (LANDMARK_COUNT, 3)
    np.testing.assert_allclose(hand.normalized[:, 0] * width, hand.landmarks[:, 0], atol=1e-3)
    np.testing.assert_allclose(hand.normalized[:, 1] * height, hand.landmarks[:, 1], atol=1e-3)
    box = hand.box
    assert 0 <= box.x < box.x + box.width <= width
    assert 0 <= box.y < box.y + box.height <= height
    xs, ys = hand.points[:, 0].clip(0, width), hand.points[:, 1].clip(0, height)
    assert box.x <= xs.min()
    assert xs.max() <= box.x + box.width
    assert box.y <= ys.min()
    assert ys.max() <= box.y + box.height
    assert hand.handedness in ("left", "right")
    assert 0.5 <= hand.handedness_score <= 1.0
    assert classify(hand).gesture is Gesture.THUMBS_UP


def test_mirrored_frame_swaps_handedness_not_the_gesture(
    testdata: Path, detector: HandDetector
) -> None:
    frame = _read(testdata / THUMBS_UP)
    (hand,) = detector.detect(frame)
    (mirrored,) = detector.detect(np.ascontiguousarray(frame[:, ::-1]))
    assert {hand.handedness, mirrored.handedness} == {"left", "right"}
    assert classify(mirrored).gesture is classify(hand).gesture
    # The same joints, reflected back.
    width = frame.shape[1]
    reflected = mirrored.points.copy()
    reflected[:, 0] = width - reflected[:, 0]
    assert np.abs(reflected - hand.points).max() < 0.1 * max(hand.box.width, hand.box.height)


def test_mirrored_option_keeps_mediapipes_label(testdata: Path, detector: HandDetector) -> None:
    frame = _read(testdata / THUMBS_UP)
    with HandDetector(mirrored=True) as selfie:
        assert selfie.detect(frame)[0].handedness != detector.detect(frame)[0].handedness


@pytest.mark.parametrize("path", TIGHT)
def test_padded_retry_finds_hands_that_fill_the_frame(
    testdata: Path, detector: HandDetector, path: str
) -> None:
    frame = _read(testdata / path)
    (whole,) = detector.detect(frame)[:1]
    box = whole.box
    crop = np.ascontiguousarray(frame[box.y : box.y + box.height, box.x : box.x + box.width])
    hands = detector.detect(crop)
    assert hands, "no hand in a tight crop, even on the padded retry"
    # Coordinates come back in the crop's pixels: the same joints as in the whole frame,
    # give or take the landmark noise (a wrong padding offset would be off by half the crop).
    shifted = hands[0].points + np.array([box.x, box.y], dtype=np.float32)
    errors = np.linalg.norm(shifted - whole.points, axis=1)
    assert np.median(errors) < 0.1 * max(box.width, box.height)
    assert classify(hands[0]).gesture is classify(whole).gesture


def test_the_retry_is_what_finds_some_tight_crops(testdata: Path, detector: HandDetector) -> None:
    missed = 0
    with HandDetector(retry=False) as single_pass:
        for path in TIGHT:
            frame = _read(testdata / path)
            box = detector.detect(frame)[0].box
            crop = np.ascontiguousarray(
                frame[box.y : box.y + box.height, box.x : box.x + box.width]
            )
            missed += not single_pass.detect(crop)
    assert missed >= 1


@pytest.mark.parametrize(
    ("path", "gesture"), [(TWO_FISTS, Gesture.FIST), (TWO_PALMS, Gesture.OPEN_PALM)]
)
def test_both_hands_link_to_the_persons_face(
    testdata: Path, detector: HandDetector, path: str, gesture: Gesture
) -> None:
    frame = _read(testdata / path)
    hands = detector.detect(frame)
    assert len(hands) == 2
    assert {hand.handedness for hand in hands} == {"left", "right"}
    assert [classify(hand).gesture for hand in hands] == [gesture, gesture]
    with MediapipeFaceDetector() as faces:
        face_boxes = [face.box for face in faces.detect(frame)]
    assert len(face_boxes) == 1
    assert link_hands([hand.box for hand in hands], face_boxes) == [0, 0]


def test_max_num_hands(testdata: Path) -> None:
    frame = _read(testdata / TWO_PALMS)
    with HandDetector(max_num_hands=1) as one:
        assert one.max_num_hands == 1
        assert len(one.detect(frame)) == 1


def test_video_mode_tracks_the_same_hand(testdata: Path) -> None:
    frame = _read(testdata / TWO_FISTS)
    with HandDetector(static_image_mode=False) as video:
        counts = [len(video.detect(frame)) for _ in range(3)]
        # A frame with no hand goes to the still-image retry graph, not the tracker.
        assert video.detect(np.zeros((120, 160, 3), dtype=np.uint8)) == []
    assert counts == [2, 2, 2]


def test_threads_share_one_detector(testdata: Path, detector: HandDetector) -> None:
    frame = _read(testdata / THUMBS_UP)
    expected = detector.detect(frame)[0].landmarks
    results: list[NDArray[np.float32]] = []

    def work() -> None:
        for _ in range(3):
            results.append(detector.detect(frame)[0].landmarks)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 9
    for landmarks in results:
        np.testing.assert_allclose(landmarks, expected, atol=1e-3)


def test_blank_and_bad_frames(detector: HandDetector) -> None:
    assert detector.detect(np.full((240, 320, 3), 128, dtype=np.uint8)) == []
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detector.detect(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(ValueError, match="max_num_hands"):
        HandDetector(max_num_hands=0)


def test_closed_detector_refuses_frames(testdata: Path) -> None:
    detector = HandDetector()
    detector.close()
    detector.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        detector.detect(_read(testdata / THUMBS_UP))
