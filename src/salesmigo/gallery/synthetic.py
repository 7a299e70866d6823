"""Synthetic face descriptors with the structure of real ones, for tests and benchmarks.

Uniform noise on the sphere is a poor stand-in for face embeddings: every point is about
as far from every other, so nearest-neighbour search has nothing to find. Real galleries
are clusters (several photos of each person) in a space whose variance is spread unevenly
over its axes. The model here:

* **Face space.** A fixed random rotation ``R`` of ``R^d`` and per-axis standard deviations
  ``s_j ~ j^(-0.34)``, so the spectrum decays like the PCA spectrum of learnt embeddings.
  A draw from face space is ``R (s * z)`` with ``z ~ N(0, I)``, scaled to unit expected
  norm. The effective dimension (participation ratio of the covariance) of a large
  gallery is about 59 of 128.
* **Identities.** Each person's centre is ``normalise(m g + u)`` where ``u`` is a draw from
  face space and ``g`` a unit direction shared by all faces (``m = 0.4``): embeddings of
  faces are not centred on the origin, so impostor cosines are slightly positive.
* **Photos.** A photo is ``normalise(centre + r v)`` with ``v`` a fresh face-space draw and
  ``r`` uniform in [0.3, 0.9] per photo (image quality, pose, light).
* **Gallery.** Each person enrols 1 to 5 photos (uniform, mean 3): a customer ranks by the
  closest of their templates, so a gallery of ``n`` templates holds about ``n / 3`` people.
* **Queries.** By default 90 % are new photos of enrolled people, 10 % are strangers
  (people who are not in the gallery), drawn the same way.

Calibration against SFace. The 239 faces of ``../shared/testdata`` (75 people) embedded
with SFace give: covariance participation ratio 29.6, norm of the mean vector 0.34,
same-person L2 distances 0.46 / 0.69 / 1.00 (5th / 50th / 95th percentile) and
different-person distances 1.22 / 1.35 / 1.46. The same number of synthetic people and
photos per person give a participation ratio of about 30 and a mean norm of 0.34 with the
constants above; distances over a large synthetic gallery are 0.50 / 0.72 / 0.93 for the
same person and 1.18 / 1.34 / 1.49 for different people. 239 faces pin down the spectrum
only roughly; the point is that the benchmark's recall is measured on data about as hard
as SFace's, not on data that flatters an approximate index.

Everything is float32, L2-normalised and deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DIMENSION = 128
MAX_PHOTOS_PER_PERSON = 5
NOISE_RANGE = (0.3, 0.9)
SHARED_MEAN_WEIGHT = 0.4
_SPECTRUM_POWER = 0.34
_CHUNK = 262_144


@dataclass(frozen=True)
class SyntheticGallery:
    """Templates of ``people`` enrolled people; row ``i`` belongs to ``customer_ids[i]``."""

    template_ids: NDArray[np.int64]
    customer_ids: NDArray[np.int64]
    vectors: NDArray[np.float32]
    centres: NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.template_ids)

    def prefix(self, templates: int) -> SyntheticGallery:
        """The first ``templates`` rows: a smaller gallery of the same people (views)."""
        people = int(self.customer_ids[templates - 1]) if templates else 0
        return SyntheticGallery(
            self.template_ids[:templates],
            self.customer_ids[:templates],
            self.vectors[:templates],
            self.centres[:people],
        )


@dataclass(frozen=True)
class SyntheticQueries:
    """Query photos; ``true_customer_ids`` is 0 for a stranger."""

    vectors: NDArray[np.float32]
    true_customer_ids: NDArray[np.int64]


class FaceSpace:
    """The generator: one instance per seed, so galleries and queries share one face space."""

    def __init__(self, seed: int = 0, dimension: int = DIMENSION) -> None:
        self.dimension = dimension
        self._rng = np.random.default_rng(seed)
        rotation, _ = np.linalg.qr(self._rng.standard_normal((dimension, dimension)))
        spectrum = np.arange(1, dimension + 1, dtype=np.float64) ** -_SPECTRUM_POWER
        spectrum /= np.sqrt(np.sum(spectrum**2))  # unit expected norm of a draw
        # A draw is z @ (diag(s) R^T): one matrix product per batch.
        self._mixing = (spectrum[:, None] * rotation.T).astype(np.float32)
        shared = self._rng.standard_normal(dimension)
        self._shared = (shared / np.linalg.norm(shared)).astype(np.float32)

    def _draws(self, count: int) -> NDArray[np.float32]:
        out = np.empty((count, self.dimension), dtype=np.float32)
        for start in range(0, count, _CHUNK):
            stop = min(count, start + _CHUNK)
            z = self._rng.standard_normal((stop - start, self.dimension), dtype=np.float32)
            out[start:stop] = z @ self._mixing
        return out

    def centres(self, people: int) -> NDArray[np.float32]:
        centres = self._draws(people)
        centres += SHARED_MEAN_WEIGHT * self._shared
        return _normalised(centres)

    def photos(self, centres: NDArray[np.float32]) -> NDArray[np.float32]:
        """One new photo of each given centre (rows may repeat a centre)."""
        noise = self._draws(len(centres))
        low, high = NOISE_RANGE
        scale = self._rng.uniform(low, high, size=(len(centres), 1)).astype(np.float32)
        noise *= scale
        noise += centres
        return _normalised(noise)

    def gallery(self, templates: int, first_template_id: int = 1) -> SyntheticGallery:
        """About ``templates / 3`` people with 1 to 5 photos each, exactly ``templates`` rows."""
        counts = self._rng.integers(1, MAX_PHOTOS_PER_PERSON + 1, size=templates)
        cumulative = np.cumsum(counts)
        people = int(np.searchsorted(cumulative, templates) + 1)
        owner = np.repeat(np.arange(people), counts[:people])[:templates]
        centres = self.centres(people)
        vectors = np.empty((templates, self.dimension), dtype=np.float32)
        for start in range(0, templates, _CHUNK):  # bounded temporaries at 10M templates
            stop = min(templates, start + _CHUNK)
            vectors[start:stop] = self.photos(centres[owner[start:stop]])
        return SyntheticGallery(
            template_ids=np.arange(
                first_template_id, first_template_id + templates, dtype=np.int64
            ),
            customer_ids=(owner + 1).astype(np.int64),
            vectors=vectors,
            centres=centres,
        )

    def queries(
        self, gallery: SyntheticGallery, count: int, stranger_fraction: float = 0.1
    ) -> SyntheticQueries:
        """New photos of enrolled people, and of ``stranger_fraction`` people never enrolled."""
        strangers = self._rng.random(count) < stranger_fraction
        people = self._rng.integers(0, len(gallery.centres), size=count)
        centres = gallery.centres[people]
        if strangers.any():
            centres[strangers] = self.centres(int(strangers.sum()))
        truth = np.where(strangers, 0, people + 1).astype(np.int64)
        return SyntheticQueries(self.photos(centres), truth)


def _normalised(vectors: NDArray[np.float32]) -> NDArray[np.float32]:
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors
