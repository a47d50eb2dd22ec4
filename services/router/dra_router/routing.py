"""The router's decision for one query: domain, geography, ranked sources and Singapore-first.

Singapore-first rule
--------------------
Singapore intent comes from the query's own words (see `geography`): Singapore itself, its places,
agencies and programmes. A user's location in `user_context` does not turn it on ("machine learning
datasets" typed in Singapore still belongs on Kaggle).

- **No Singapore intent** (including look-alikes such as "singer song lyrics", "single-cell sequencing",
  "Sing-along audio", Taipei's MRT, Malaysia's MOH): never applied; sources are ordered by prior.
- **Singapore only**: applied; the Singapore public-sector sources (`SINGAPORE_SOURCES`: data.gov.sg,
  SingStat, LTA DataMall, OneMap) come first, in the order of their priors for this query, then every
  other source by prior.
- **Singapore and other countries** ("compare Singapore and Malaysia GDP"): applied, but only the best
  Singapore source is pinned first. The other sources follow by prior, so the international sources that
  cover every named country (World Bank, IMF, ...) come before the remaining Singapore portals, which can
  only answer for the Singapore side.

Sources the caller lists in `user_context["preferred_sources"]` come right after the pinned Singapore
sources (or first, when Singapore-first does not apply).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field

import numpy as np

from dra_common.domain import SINGAPORE_SOURCES, SOURCE_NAMES
from dra_common.mappings import Mapping, ParseResult
from dra_common.text import clip_query
from dra_router import geography
from dra_router.classifier import DomainClassifier, LabelledQuery, training_examples
from dra_router.priors import FeedbackStat, SourcePrior, SourcePriors

log = logging.getLogger(__name__)

MIXED_PINNED = 1


Labeller = Callable[[Sequence[str]], list[tuple[str, bool]]]
FeedbackLoader = Callable[[Labeller], list[FeedbackStat]]


class InvalidQueryError(ValueError):
    """The request cannot be classified (empty or whitespace-only query)."""


@dataclass(frozen=True)
class Decision:
    """Everything the router says about one query."""

    query: str
    domain: str
    confidence: float
    # Other domains with their probabilities, most probable first.
    runner_up: tuple[tuple[str, float], ...]
    low_confidence: bool
    geography: tuple[str, ...]
    singapore_intent: bool
    singapore_first_applied: bool
    reason: str
    sources: tuple[SourcePrior, ...]
    evidence: tuple[str, ...]
    embedding: np.ndarray
    notices: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def recommended_sources(self) -> list[str]:
        """Source names in recommended order (what the runbook's validation prints)."""
        return [s.source for s in self.sources]


class Router:
    """Classifier + geography rules + source priors, behind one `classify` call."""

    def __init__(self, encoder: object, classifier: DomainClassifier, priors: SourcePriors) -> None:
        self.encoder = encoder
        self.classifier = classifier
        self.priors = priors
        self.embedding_model = str(getattr(encoder, "name", ""))

    def classify(self, query: str, user_context: MappingType[str, str] | None = None) -> Decision:
        """Encode and route one query; raises InvalidQueryError for an empty one."""
        text, notices = _prepare(query)
        start = time.perf_counter()
        embedding = self.encoder.encode_query(text)  # type: ignore[attr-defined]
        encode_ms = (time.perf_counter() - start) * 1000
        decision = self.route(text, embedding, user_context, notices)
        decision.timings_ms["encode"] = encode_ms
        decision.timings_ms["total"] = encode_ms + decision.timings_ms["route"]
        return decision

    def route(
        self,
        text: str,
        embedding: np.ndarray,
        user_context: MappingType[str, str] | None = None,
        notices: Sequence[str] = (),
    ) -> Decision:
        """Everything after encoding: domain, geography, priors and the Singapore-first order."""
        start = time.perf_counter()
        probabilities = self.classifier.predict_proba(embedding.reshape(1, -1))[0]
        prediction = self.classifier.decide(probabilities)
        geo = geography.detect(text)
        ranked = self.priors.rank(probabilities, embedding, geo.singapore_intent)
        preferred = _preferred(user_context)
        sources, applied, reason = order_sources(ranked, geo, preferred)
        runner_up = tuple((d, p) for d, p in prediction.ranked if d != prediction.domain)
        route_ms = (time.perf_counter() - start) * 1000
        return Decision(
            query=text,
            domain=prediction.domain,
            confidence=prediction.confidence,
            runner_up=runner_up,
            low_confidence=prediction.fallback,
            geography=geo.countries,
            singapore_intent=geo.singapore_intent,
            singapore_first_applied=applied,
            reason=reason,
            sources=tuple(sources),
            evidence=geo.evidence,
            embedding=embedding,
            notices=tuple(notices),
            timings_ms={"route": route_ms},
        )


def _prepare(query: str) -> tuple[str, list[str]]:
    if query is None or not query.strip():
        raise InvalidQueryError("query is empty: send the research request as text, e.g. 'singapore housing prices'")
    text, notices = clip_query(query.strip())
    return text, list(notices)


def _preferred(user_context: MappingType[str, str] | None) -> list[str]:
    if not user_context:
        return []
    raw = user_context.get("preferred_sources", "")
    return [s.strip() for s in raw.split(",") if s.strip() in SOURCE_NAMES]


def order_sources(
    ranked: Sequence[SourcePrior], geo: geography.Geography, preferred: Sequence[str] = ()
) -> tuple[list[SourcePrior], bool, str]:
    """Apply the Singapore-first rule (module docstring) to sources ranked by prior.

    Returns the final order, whether Singapore-first was applied, and the reason.
    """
    if not geo.singapore_intent:
        rest = _prefer(list(ranked), preferred)
        return rest, False, f"Singapore-first not applied: {geo.explanation}"
    local = [s for s in ranked if s.source in SINGAPORE_SOURCES]
    others = [c for c in geo.countries if c != "SG"]
    pinned = local[:MIXED_PINNED] if others else local
    pinned_names = {s.source for s in pinned}
    rest = _prefer([s for s in ranked if s.source not in pinned_names], preferred)
    marked = [SourcePrior(s.source, s.score, f"Singapore public-sector source; {s.reason}") for s in pinned]
    if others:
        reason = (
            f"Singapore-first applied ({geo.explanation}); the query also names {', '.join(others)}, so only the "
            f"best Singapore source leads and cross-country sources follow by prior"
        )
    else:
        reason = f"Singapore-first applied: {geo.explanation}; Singapore public-sector sources first"
    return marked + rest, True, reason


def _prefer(sources: list[SourcePrior], preferred: Sequence[str]) -> list[SourcePrior]:
    if not preferred:
        return sources
    first = [SourcePrior(s.source, s.score, f"preferred by the caller; {s.reason}") for s in sources
             if s.source in preferred]
    return first + [s for s in sources if s.source not in preferred]


def build_router(
    encoder: object,
    mappings: ParseResult,
    labelled: Sequence[LabelledQuery],
    feedback_loader: FeedbackLoader | None = None,
) -> Router:
    """Train the classifier and build the priors (train splits only).

    Args:
        encoder: a `SentenceEncoder` (or anything with `encode`, `encode_query` and `name`).
        mappings: the parsed training mappings.
        labelled: the labelled queries.
        feedback_loader: optional callable reading user ratings; it gets a function labelling query texts
            with (domain, Singapore intent).
    """
    start = time.perf_counter()
    train_mappings = mappings.split("train")
    texts, labels = training_examples(labelled, train_mappings)
    mapping_texts = list(dict.fromkeys(m.query for m in train_mappings))
    all_texts = list(dict.fromkeys(texts + mapping_texts))
    vectors = encoder.encode(all_texts)  # type: ignore[attr-defined]
    by_text = {t: vectors[i] for i, t in enumerate(all_texts)}
    classifier = DomainClassifier().fit(texts, np.vstack([by_text[t] for t in texts]), labels)
    domains, singapore = annotate_mappings(train_mappings, classifier, by_text)
    feedback: list[FeedbackStat] = []
    if feedback_loader is not None:
        feedback = feedback_loader(lambda texts: label_texts(encoder, classifier, texts))
    priors = SourcePriors(train_mappings, domains, singapore, by_text, feedback)
    log.info(
        "router trained",
        extra={
            "training_examples": len(texts),
            "mappings_train": len(train_mappings),
            "mapping_errors": len(mappings.errors),
            "feedback_ratings": priors.n_feedback,
            "seconds": round(time.perf_counter() - start, 2),
        },
    )
    return Router(encoder, classifier, priors)


def annotate_mappings(
    records: Sequence[Mapping], classifier: DomainClassifier, embeddings: MappingType[str, np.ndarray]
) -> tuple[list[str], list[bool]]:
    """Domain and Singapore intent of each mapping record (classifier for sections without a domain)."""
    domains: list[str] = []
    singapore: list[bool] = []
    for m in records:
        domain = m.domain or classifier.classify(embeddings[m.query]).domain
        domains.append(domain)
        singapore.append(m.geography == "SG" or geography.detect(m.query).singapore_intent)
    return domains, singapore


def label_texts(encoder: object, classifier: DomainClassifier, texts: Sequence[str]) -> list[tuple[str, bool]]:
    """(domain, Singapore intent) of arbitrary texts, for aggregating feedback."""
    if not texts:
        return []
    vectors = encoder.encode(list(texts))  # type: ignore[attr-defined]
    predictions = classifier.classify_many(vectors)
    return [(p.domain, geography.detect(t).singapore_intent) for p, t in zip(predictions, texts, strict=True)]


def rebuild_priors(router: Router, mappings: ParseResult, feedback: Sequence[FeedbackStat]) -> SourcePriors:
    """New priors with fresh feedback, reusing the trained classifier."""
    train_mappings = mappings.split("train")
    texts = list(dict.fromkeys(m.query for m in train_mappings))
    vectors = router.encoder.encode(texts)  # type: ignore[attr-defined]
    by_text = {t: vectors[i] for i, t in enumerate(texts)}
    domains, singapore = annotate_mappings(train_mappings, router.classifier, by_text)
    return SourcePriors(train_mappings, domains, singapore, by_text, feedback)
