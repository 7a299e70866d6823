"""A camera pipeline set up from the settings tree.

The one recipe for ``salesmigo camera`` (an agent beside the camera) and the browser camera
page (a worker in the server), so that both read the same vision and camera settings.
"""

from __future__ import annotations

from salesmigo.cameras.identity_vote import Identify
from salesmigo.cameras.pipeline import CameraPipeline, EventSink, PipelineSettings, Role
from salesmigo.config import Settings


def configured_pipeline(
    settings: Settings,
    identify: Identify,
    *,
    role: Role,
    camera: str,
    on_event: EventSink | None = None,
) -> CameraPipeline:
    """A pipeline for ``camera`` in ``role`` with the configured models and rules."""
    vision, cameras = settings.vision, settings.cameras
    return CameraPipeline.with_models(
        identify,
        PipelineSettings(
            role=role,
            camera=camera,
            visit_period=cameras.visit_period_seconds,
            arrival_window=cameras.arrival_window_seconds,
            min_face_size=vision.min_face_size,
            min_detection_score=vision.min_detection_score,
            gesture_min_frames=vision.gesture_min_frames,
            gesture_window=vision.gesture_window,
        ),
        models_root=settings.models_dir,
        embedding_model=settings.recognition.default_model,
        hand_model_complexity=vision.hand_model_complexity,
        max_hands=vision.max_hands,
        expression_crop=vision.camera_expression_crop,
        on_event=on_event,
    )
