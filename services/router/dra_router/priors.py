"""Source priors: how relevant each registered source is likely to be for a query, before any dataset is seen.

Everything here is computed from data, nothing is a per-source constant:

1. **Domain tables** from the training mappings (train split only): the mean judged relevance of each
   source per domain, shrunk (`SHRINK` pseudo-judgments) towards a background value, the median of the
   poor-fit judgments, because a pair the experts never judged is most likely a poor one. Two tables:
   one from queries *without* Singapore intent and one from queries *with* it, because "world_bank" is a
   fine source for "gdp data" and a poor one for "HDB resale prices". Mappings of the geographic
   "Singapore-Specific" section get their domain from the classifier.
2. **User feedback** (`user_feedback` rows with a rating): the mean rating per (domain, Singapore intent,
   source), scaled from 1-5 to 0-1, blended in with the weight of its number of ratings against
   `FEEDBACK_PRIOR_WEIGHT` mapping judgments.
3. **Nearest mapped queries**: when the query is close to queries the experts judged (cosine of the
   sentence embeddings, among mapped queries on the same side of the Singapore line), their judgments
   for a source are blended in, the more the closer; closer neighbours also outweigh farther ones, and a
   source a neighbour was not judged for counts with its domain-table value. This is what
   lets "singapore bus arrival" prefer LTA DataMall over SingStat although both are Singapore sources.

The query's prior for a source is the domain table averaged over the classifier's domain probabilities,
then blended with the neighbours' judgments.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dra_common.domain import DOMAINS, SOURCE_NAMES
from dra_common.mappings import Mapping

log = logging.getLogger(__name__)

SHRINK = 2.0
# Judgments below this are poor fits (training_mappings.md: below 0.4 poor, 0.5-0.7 partial).
POOR_FIT = 0.5
FEEDBACK_PRIOR_WEIGHT = 5.0
NEIGHBOURS = 5
# Neighbours less similar than this say nothing about the query; at 1.0 they weigh MAX_NEIGHBOUR_WEIGHT.
NEIGHBOUR_MIN_SIMILARITY = 0.5
MAX_NEIGHBOUR_WEIGHT = 0.9
# Neighbours are weighted exp((similarity - 1) / T): an exact match outweighs one at 0.85 twenty-fold.
NEIGHBOUR_TEMPERATURE = 0.05


@dataclass(frozen=True)
class FeedbackStat:
    """Aggregated ratings of one source for queries of one domain and geography."""

    domain: str
    singapore: bool
    source: str
    mean_rating: float
    count: int


@dataclass(frozen=True)
class SourcePrior:
    """One source's prior for a query."""

    source: str
    score: float
    reason: str


@dataclass
class _Table:
    """Shrunk mean relevance per (domain, source) and the counts behind it."""

    value: np.ndarray  # (domains, sources)
    count: np.ndarray  # (domains, sources)
    feedback_mean: np.ndarray = field(default_factory=lambda: np.zeros((len(DOMAINS), len(SOURCE_NAMES))))
    feedback_count: np.ndarray = field(default_factory=lambda: np.zeros((len(DOMAINS), len(SOURCE_NAMES))))


def _table(records: Sequence[tuple[str, str, float]], fallback: np.ndarray | float) -> _Table:
    """Domain × source table from (domain, source, score) triples, each cell shrunk towards `fallback`."""
    n_d, n_s = len(DOMAINS), len(SOURCE_NAMES)
    sums = np.zeros((n_d, n_s))
    counts = np.zeros((n_d, n_s))
    for domain, source, score in records:
        sums[DOMAINS.index(domain), SOURCE_NAMES.index(source)] += score
        counts[DOMAINS.index(domain), SOURCE_NAMES.index(source)] += 1
    value = (sums + SHRINK * np.asarray(fallback)) / (counts + SHRINK)
    return _Table(value=value, count=counts)


def _source_means(records: Sequence[tuple[str, str, float]], prior: float) -> np.ndarray:
    """Each source's mean judgment over all domains, shrunk towards `prior`."""
    sums = np.zeros(len(SOURCE_NAMES))
    counts = np.zeros(len(SOURCE_NAMES))
    for _, source, score in records:
        sums[SOURCE_NAMES.index(source)] += score
        counts[SOURCE_NAMES.index(source)] += 1
    return (sums + SHRINK * prior) / (counts + SHRINK)


def background(scores: Sequence[float]) -> float:
    """What a source the experts did not judge is worth: the median of the poor-fit judgments.

    Experts judge the sources they consider plausible, plus a few clear misfits; a source nobody
    mentioned for a query or domain is assumed to be a misfit too. "Poor fit" is the mappings' own scale:
    below POOR_FIT.
    """
    poor = [s for s in scores if s < POOR_FIT]
    return float(np.median(poor)) if poor else 0.0


class SourcePriors:
    """Priors of every registered source for a query, from mappings, feedback and similar mapped queries."""

    def __init__(
        self,
        mappings: Sequence[Mapping],
        mapping_domains: Sequence[str],
        mapping_singapore: Sequence[bool],
        mapping_embeddings: dict[str, np.ndarray],
        feedback: Sequence[FeedbackStat] = (),
    ) -> None:
        """Build the tables.

        Args:
            mappings: train-split mapping records.
            mapping_domains: the domain of each record (section domain, or the classifier's for geographic
                sections).
            mapping_singapore: whether each record's query has Singapore intent.
            mapping_embeddings: embedding of each distinct mapping query text.
            feedback: aggregated user ratings.
        """
        world = [(d, m.source, m.score) for m, d, sg in zip(mappings, mapping_domains, mapping_singapore, strict=True)
                 if not sg]
        local = [(d, m.source, m.score) for m, d, sg in zip(mappings, mapping_domains, mapping_singapore, strict=True)
                 if sg]
        self.background = background([m.score for m in mappings])
        # An unjudged (domain, source) is worth the background, or less when the source was judged poor in
        # every domain it was judged for (a Singapore portal for queries without Singapore intent).
        self.world = _table(world, np.minimum(_source_means(world, self.background), self.background)[None, :])
        # Singapore cells nobody judged fall back to the world view of the same domain and source.
        self.singapore = _table(local, self.world.value)
        self.n_mappings = len(mappings)
        self.n_feedback = 0
        self._apply_feedback(feedback)
        by_query: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
        query_singapore: dict[str, bool] = {}
        for m, sg in zip(mappings, mapping_singapore, strict=True):
            by_query[m.query][m.source] = (m.score, m.reason)
            query_singapore[m.query] = sg
        self._queries = list(by_query)
        self._query_singapore = np.array([query_singapore[q] for q in self._queries], dtype=bool)
        self._judgments = [by_query[q] for q in self._queries]
        if self._queries:
            self._matrix = np.vstack([mapping_embeddings[q] for q in self._queries]).astype(np.float32)
        else:
            self._matrix = np.zeros((0, 1), dtype=np.float32)
        self._score_matrix = np.full((len(self._queries), len(SOURCE_NAMES)), np.nan)
        for row, judged in enumerate(self._judgments):
            for source, (score, _) in judged.items():
                self._score_matrix[row, SOURCE_NAMES.index(source)] = score

    def _apply_feedback(self, feedback: Sequence[FeedbackStat]) -> None:
        for stat in feedback:
            if stat.source not in SOURCE_NAMES or stat.domain not in DOMAINS or stat.count <= 0:
                continue
            table = self.singapore if stat.singapore else self.world
            d, s = DOMAINS.index(stat.domain), SOURCE_NAMES.index(stat.source)
            total = table.feedback_count[d, s] + stat.count
            table.feedback_mean[d, s] = (
                table.feedback_mean[d, s] * table.feedback_count[d, s] + stat.mean_rating * stat.count
            ) / total
            table.feedback_count[d, s] = total
            self.n_feedback += stat.count
        for table in (self.world, self.singapore):
            scaled = np.clip((table.feedback_mean - 1.0) / 4.0, 0.0, 1.0)
            n = table.feedback_count
            table.value = (table.value * FEEDBACK_PRIOR_WEIGHT + scaled * n) / (FEEDBACK_PRIOR_WEIGHT + n)

    def domain_prior(self, domain: str, source: str, singapore: bool = False) -> float:
        """The table value for one domain and source."""
        table = self.singapore if singapore else self.world
        return float(table.value[DOMAINS.index(domain), SOURCE_NAMES.index(source)])

    def rank(self, probabilities: np.ndarray, embedding: np.ndarray, singapore: bool) -> list[SourcePrior]:
        """Every registered source with its prior for this query, highest first.

        Args:
            probabilities: domain probabilities in DOMAINS order.
            embedding: the query's unit-length embedding.
            singapore: whether the query has Singapore intent.
        """
        table = self.singapore if singapore else self.world
        probs = np.asarray(probabilities, dtype=np.float64)
        mixed = probs @ table.value
        top_domain = int(np.argmax(probs))
        weights = np.zeros(len(SOURCE_NAMES))
        neighbour_scores = np.zeros(len(SOURCE_NAMES))
        nearest: dict[int, tuple[int, float]] = {}
        if len(self._queries):
            # Neighbours only from the same side of the Singapore line: "MRT ridership" (Singapore) says
            # nothing about the sources of "Taipei MRT ridership".
            sims = np.where(self._query_singapore == singapore, self._matrix @ embedding.astype(np.float32), -1.0)
            k = min(NEIGHBOURS, len(sims))
            idx = np.argpartition(-sims, k - 1)[:k]
            idx = idx[sims[idx] >= NEIGHBOUR_MIN_SIMILARITY]
            if len(idx):
                idx = idx[np.argsort(-sims[idx])]
                scores = self._score_matrix[idx]
                judged = ~np.isnan(scores)
                closeness = np.exp((sims[idx] - 1.0) / NEIGHBOUR_TEMPERATURE)
                filled = np.where(judged, scores, mixed[None, :])
                neighbour_scores = closeness @ filled / closeness.sum()
                weights[:] = MAX_NEIGHBOUR_WEIGHT * float(
                    np.clip((sims[idx[0]] - NEIGHBOUR_MIN_SIMILARITY) / (1.0 - NEIGHBOUR_MIN_SIMILARITY), 0.0, 1.0)
                )
                for s in range(len(SOURCE_NAMES)):
                    if judged[:, s].any():
                        row = int(idx[np.argmax(judged[:, s])])
                        nearest[s] = (row, float(sims[row]))
        final = np.clip((1.0 - weights) * mixed + weights * neighbour_scores, 0.0, 1.0)
        out = []
        for s in np.argsort(-final, kind="stable"):
            reason = self._reason(int(s), top_domain, table, weights[s], nearest.get(int(s)))
            out.append(SourcePrior(SOURCE_NAMES[s], float(final[s]), reason))
        return out

    def _reason(
        self,
        s: int,
        d: int,
        table: _Table,
        weight: float,
        nearest: tuple[int, float] | None,
    ) -> str:
        if nearest is not None and weight >= 0.1:
            row, sim = nearest
            query = self._queries[row]
            score, why = self._judgments[row][SOURCE_NAMES[s]]
            text = f"like mapped query '{query}' (similarity {sim:.2f}): {score:.2f}"
            if why:
                text += f", {why}"
        else:
            n = int(table.count[d, s])
            if n:
                text = f"{DOMAINS[d]} mappings: {n} judgment{'s' if n != 1 else ''}"
            else:
                text = f"no {DOMAINS[d]} mapping; prior from its other judgments"
        fb = int(table.feedback_count[d, s])
        if fb:
            text += f"; feedback {table.feedback_mean[d, s]:.1f}/5 from {fb} rating{'s' if fb != 1 else ''}"
        return text
