"""1:N identification scores: enrol some identities, probe with the rest, keep strangers out.

The protocol, on the ``identity`` rows of a manifest:

- identities are sorted by label (plain string order) and every second one (index 1, 3,
  5, ... in that order) is held back as a *stranger*: never enrolled, only searched for;
- every other identity is enrolled with its first image in manifest order, and each of its
  other images is a *probe*;
- ``rank1`` is the share of probes decided ``match`` to the right customer; a probe with no
  face, or of an identity whose enrolment image had no face, counts as wrong;
- ``false_match_rate`` is the share of stranger images decided ``match`` to anyone, and
  ``unknown_recall`` the share decided ``unknown``; a stranger image with no face counts as
  correctly unknown, so the two always add up to 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from salesmigo.config import ModelMatching
from salesmigo.evaluation.manifest import ManifestRow
from salesmigo.gallery.decision import Identification
from salesmigo.gallery.gallery import Gallery, Template

IDENTITY_KIND = "identity"

# Path relative to the data root -> the descriptor of its face, or None when none was found.
Describe = Callable[[str], NDArray[np.float32] | None]


@dataclass(frozen=True)
class Identity:
    label: str
    images: tuple[str, ...]  # manifest order


@dataclass(frozen=True)
class IdentitySplit:
    enrolled: list[Identity]  # each enrolled with images[0]; images[1:] are probes
    strangers: list[Identity]


def split_identities(rows: Sequence[ManifestRow]) -> IdentitySplit:
    """Group the ``identity`` rows by label and hold back every second identity as a stranger.

    Other kinds of rows are ignored. See the module docstring for the protocol.
    """
    images: dict[str, list[str]] = {}
    for row in rows:
        if row.kind == IDENTITY_KIND:
            images.setdefault(row.label, []).append(row.path)
    identities = [Identity(label, tuple(images[label])) for label in sorted(images)]
    return IdentitySplit(enrolled=identities[0::2], strangers=identities[1::2])


@dataclass(frozen=True)
class ProbeOutcome:
    """A probe image of an enrolled identity and what the gallery said about it."""

    path: str
    expected_customer: int | None  # None: the identity's enrolment image had no face
    identification: Identification | None  # None: no face found in the probe


@dataclass(frozen=True)
class StrangerOutcome:
    """An image of a never-enrolled person and what the gallery said about it."""

    path: str
    identification: Identification | None  # None: no face found


def _share(count: int, total: int) -> float | None:
    """count / total, or None when there is nothing to divide (a rate of nothing is unknown)."""
    return count / total if total else None


def rank1(probes: Sequence[ProbeOutcome]) -> float | None:
    """Share of probes decided ``match`` to their own customer; None without probes."""
    right = sum(
        1
        for probe in probes
        if probe.expected_customer is not None
        and probe.identification is not None
        and probe.identification.matched_customer_id == probe.expected_customer
    )
    return _share(right, len(probes))


def _matched(outcome: StrangerOutcome) -> bool:
    return outcome.identification is not None and outcome.identification.decision == "match"


def false_match_rate(strangers: Sequence[StrangerOutcome]) -> float | None:
    """Share of stranger images decided ``match`` to anyone; None without strangers."""
    return _share(sum(1 for s in strangers if _matched(s)), len(strangers))


def unknown_recall(strangers: Sequence[StrangerOutcome]) -> float | None:
    """Share of stranger images decided ``unknown`` (no face counts as unknown)."""
    return _share(sum(1 for s in strangers if not _matched(s)), len(strangers))


@dataclass(frozen=True)
class IdentificationReport:
    model: str
    threshold: float
    rank1: float | None
    false_match_rate: float | None
    unknown_recall: float | None
    enrolled: int
    enrol_failed: list[str]  # labels whose enrolment image had no face
    probes: int
    strangers: int
    stranger_images: int
    no_face: int

    def as_dict(self) -> dict[str, object]:
        """The JSON the ``eval identify --json`` command prints (rates are null when undefined)."""

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "rank1": rounded(self.rank1),
            "false_match_rate": rounded(self.false_match_rate),
            "unknown_recall": rounded(self.unknown_recall),
            "enrolled": self.enrolled,
            "enrol_failed": len(self.enrol_failed),
            "enrol_failed_labels": list(self.enrol_failed),
            "probes": self.probes,
            "strangers": self.strangers,
            "stranger_images": self.stranger_images,
            "no_face": self.no_face,
            "model": self.model,
            "threshold": self.threshold,
        }


def score_identification(
    probes: Sequence[ProbeOutcome],
    strangers: Sequence[StrangerOutcome],
    *,
    enrolled: int,
    enrol_failed: Sequence[str],
    stranger_identities: int,
    no_face: int,
    model: str,
    threshold: float,
) -> IdentificationReport:
    return IdentificationReport(
        model=model,
        threshold=threshold,
        rank1=rank1(probes),
        false_match_rate=false_match_rate(strangers),
        unknown_recall=unknown_recall(strangers),
        enrolled=enrolled,
        enrol_failed=list(enrol_failed),
        probes=len(probes),
        strangers=stranger_identities,
        stranger_images=len(strangers),
        no_face=no_face,
    )


def evaluate_identification(
    split: IdentitySplit,
    describe: Describe,
    matching_for: Callable[[str], ModelMatching],
    model: str,
) -> IdentificationReport:
    """Run the protocol with an in-memory Gallery (never the database).

    ``describe`` is called once per image: all enrolment images first, then probes, then
    stranger images.
    """
    gallery = Gallery(matching_for)
    no_face = 0
    customer_of: dict[str, int | None] = {}
    templates = []
    for customer_id, identity in enumerate(split.enrolled, start=1):
        vector = describe(identity.images[0])
        if vector is None:
            no_face += 1
            customer_of[identity.label] = None
            continue
        customer_of[identity.label] = customer_id
        templates.append(Template(customer_id, customer_id, model, vector))
    gallery.add(templates)

    def identify(path: str) -> Identification | None:
        nonlocal no_face
        vector = describe(path)
        if vector is None:
            no_face += 1
            return None
        return gallery.identify(model, vector)

    probes = [
        ProbeOutcome(path, customer_of[identity.label], identify(path))
        for identity in split.enrolled
        for path in identity.images[1:]
    ]
    strangers = [
        StrangerOutcome(path, identify(path))
        for identity in split.strangers
        for path in identity.images
    ]
    failed = [label for label, customer in customer_of.items() if customer is None]
    return score_identification(
        probes,
        strangers,
        enrolled=len(split.enrolled) - len(failed),
        enrol_failed=failed,
        stranger_identities=len(split.strangers),
        no_face=no_face,
        model=model,
        threshold=matching_for(model).threshold,
    )
