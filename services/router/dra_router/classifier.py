"""Domain classifier: which of the 8 domains a request belongs to, learned from labelled queries.

An RBF-kernel SVM over the MiniLM sentence embedding (computed once per request anyway, because ranking
needs it), with calibrated probabilities. It is trained at router start from the labelled queries shipped
in this package plus the train-split queries of the training mappings (a few hundred examples, well under
a second once the texts are encoded).

The model and its settings were chosen by 5-fold cross-validation on the *train* split only (`dra router
evaluate --cv` prints it; a linear logistic regression, kernel logistic regression and an added character
n-gram view scored the same or lower); the held-out split is only ever scored. When the best probability
is below `MIN_CONFIDENCE` the router answers "general": a wrong specific domain costs more (it steers the
source priors) than the catch-all. The sentence model is English: requests in other languages are
classified as well as it can (cognates help European languages; other scripts often end up "general"
or, less often, in a wrong domain) and are never an error.

Labelling rules for the domains (the training data follows them):

- ``psychology``: mind and behaviour, cognition, emotion, personality, mental health and wellbeing,
  behavioural experiments, EEG/fMRI of psychological tasks.
- ``machine_learning``: datasets whose subject is ML itself: benchmarks, training corpora (text, images,
  audio), generic classification/regression datasets. A medical image set is health, not ML: the
  subject matter decides, not the method.
- ``climate_environment``: climate, weather, emissions, air and water quality, energy, biodiversity, waste.
- ``economics_finance``: output, prices (including housing and food prices), trade, labour market, wages,
  public finance, markets, household income.
- ``health_medicine``: disease, clinical and physiological data, health systems, biomedical sequencing.
- ``education``: schools, students, teachers, universities, learning outcomes, training programmes.
- ``transport_urban``: traffic, public transport, vehicles (incl. COE), aviation and ports, urban planning,
  land use, housing estates and supply.
- ``general``: population and demographics, crime, elections, culture, sports, tourism, agriculture,
  catch-all requests ("singapore data", "open datasets") and anything the classifier is unsure of.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dra_common.domain import DOMAINS
from dra_common.evalsets import LabelledQuery
from dra_common.mappings import Mapping
from dra_common.text import normalize_query

log = logging.getLogger(__name__)

# Below this calibrated probability of being right the domain is more likely wrong than right: answer "general".
MIN_CONFIDENCE = 0.50
SVM_C = 10.0
FALLBACK_DOMAIN = "general"


@dataclass(frozen=True)
class DomainPrediction:
    """The classifier's answer for one query."""

    domain: str
    # Probability of the best domain (also when the answer fell back to "general").
    confidence: float
    # Every domain with its probability, most probable first.
    ranked: tuple[tuple[str, float], ...]
    # True when the best probability was below MIN_CONFIDENCE and "general" was answered instead.
    fallback: bool

    def probabilities(self) -> dict[str, float]:
        """Domain → probability."""
        return dict(self.ranked)


def training_examples(
    labelled: Sequence[LabelledQuery], mappings: Sequence[Mapping] = ()
) -> tuple[list[str], list[str]]:
    """Texts and labels to train on: the labelled train split plus train-split mapping queries.

    Mapping queries take the domain of their section; any text that is also a held-out labelled query is
    dropped, so nothing held out leaks into training.
    """
    heldout = {normalize_query(q.query) for q in labelled if q.split == "heldout"}
    texts: list[str] = []
    labels: list[str] = []
    seen: set[str] = set()
    for q in labelled:
        key = normalize_query(q.query)
        if q.split == "train" and key not in seen:
            seen.add(key)
            texts.append(q.query)
            labels.append(q.domain)
    for m in mappings:
        key = normalize_query(m.query)
        if m.split != "train" or m.domain is None or key in heldout or key in seen:
            continue
        seen.add(key)
        texts.append(m.query)
        labels.append(m.domain)
    return texts, labels


class DomainClassifier:
    """RBF-kernel SVM over sentence embeddings, with a calibrated confidence.

    The domain is the SVM's own (one-vs-one votes, ties broken by margins, as libsvm does). Its
    probability of being right is a logistic function of how clearly it won: its smallest pairwise margin
    and its lead in summed margins, fitted on out-of-fold predictions of the training set. The rest of the
    probability goes to the other domains in proportion to a softmax of their summed margins, with a
    temperature fitted on the out-of-fold cases where the SVM was wrong.

    Prediction runs in numpy from the fitted support vectors (one matrix-vector product and an exp, about
    50 µs) instead of through libsvm (about 500 µs for a single query).
    """

    def __init__(self, *, svm_c: float = SVM_C, min_confidence: float = MIN_CONFIDENCE) -> None:
        self.svm_c = svm_c
        self.min_confidence = min_confidence
        self.n_train = 0
        self.gamma = 0.0
        self.confidence_weights = np.zeros(3)
        self.runner_up_temperature = 1.0
        self._svm = None
        self._support: np.ndarray | None = None
        self._support_sq: np.ndarray | None = None
        self._pair_weights: np.ndarray | None = None
        self._pair_bias: np.ndarray | None = None

    def fit(self, texts: Sequence[str], embeddings: np.ndarray, labels: Sequence[str]) -> DomainClassifier:
        """Train on `embeddings` (n, d) labelled with domains; every domain needs examples."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.svm import SVC

        missing = set(DOMAINS) - set(labels)
        if missing:
            raise ValueError(f"no training examples for domains: {sorted(missing)}")
        if len(texts) != len(labels) or len(texts) != embeddings.shape[0]:
            raise ValueError("texts, embeddings and labels differ in length")
        x = np.asarray(embeddings, dtype=np.float64)
        y = np.array([DOMAINS.index(label) for label in labels])
        # sklearn's gamma="scale", fixed here so numpy prediction uses the same value.
        self.gamma = 1.0 / (x.shape[1] * x.var())

        def make() -> SVC:
            return SVC(C=self.svm_c, gamma=self.gamma, decision_function_shape="ovo")

        folds = StratifiedKFold(5, shuffle=True, random_state=0)
        out_of_fold = cross_val_predict(make(), x, y, cv=folds, method="decision_function")
        top, features, margins = _summarise(out_of_fold)
        correct = top == y
        if correct.all() or not correct.any():
            self.confidence_weights = np.array([0.0, 0.0, 4.0 if correct.all() else -4.0])
        else:
            calibrator = LogisticRegression().fit(features, correct)
            self.confidence_weights = np.concatenate([calibrator.coef_[0], calibrator.intercept_])
        self.runner_up_temperature = _fit_temperature(margins[~correct], y[~correct], top[~correct])
        svm = make().fit(x, y)
        self._svm = svm
        self._support = svm.support_vectors_.astype(np.float64)
        self._support_sq = (self._support**2).sum(axis=1)
        self._pair_weights, self._pair_bias = _ovo_weights(svm)
        self.n_train = len(texts)
        return self

    @property
    def ready(self) -> bool:
        """Whether `fit` has run."""
        return self._svm is not None

    def decision_values(self, embeddings: np.ndarray) -> np.ndarray:
        """One-vs-one SVM decision values (n, 28), as `SVC.decision_function` would give them."""
        if self._support is None or self._pair_weights is None or self._support_sq is None:
            raise RuntimeError("classifier is not trained")
        x = np.atleast_2d(np.asarray(embeddings, dtype=np.float64))
        sq = (x**2).sum(axis=1, keepdims=True) + self._support_sq[None, :] - 2.0 * x @ self._support.T
        kernel = np.exp(-self.gamma * np.maximum(sq, 0.0))
        return kernel @ self._pair_weights.T + self._pair_bias

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Probabilities (n, 8), columns in DOMAINS order; the SVM's domain carries the calibrated confidence."""
        top, features, margins = _summarise(self.decision_values(embeddings))
        w = self.confidence_weights
        confidence = 1.0 / (1.0 + np.exp(-(features @ w[:2] + w[2])))
        rows = np.arange(len(top))
        logits = margins / self.runner_up_temperature
        logits[rows, top] = -np.inf
        logits -= logits.max(axis=1, keepdims=True)
        others = np.exp(logits)
        others /= others.sum(axis=1, keepdims=True)
        probabilities = others * (1.0 - confidence)[:, None]
        probabilities[rows, top] = confidence
        return probabilities

    def decide(self, probabilities: np.ndarray) -> DomainPrediction:
        """Domain for one row of probabilities, falling back to "general" when unsure."""
        order = np.argsort(-probabilities, kind="stable")
        ranked = tuple((DOMAINS[i], float(probabilities[i])) for i in order)
        best, confidence = ranked[0]
        fallback = confidence < self.min_confidence and best != FALLBACK_DOMAIN
        return DomainPrediction(FALLBACK_DOMAIN if fallback else best, confidence, ranked, fallback)

    def classify(self, embedding: np.ndarray) -> DomainPrediction:
        """Domain of one query from its embedding."""
        return self.decide(self.predict_proba(embedding.reshape(1, -1))[0])

    def classify_many(self, embeddings: np.ndarray) -> list[DomainPrediction]:
        """Domains of many queries at once (priors, evaluation)."""
        if not len(embeddings):
            return []
        return [self.decide(row) for row in self.predict_proba(embeddings)]


@lru_cache(maxsize=4)
def _pair_matrices(classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(pairs, classes) indicator matrices of the first and second class of each libsvm pair."""
    pairs = [(i, j) for i in range(classes) for j in range(i + 1, classes)]
    first = np.zeros((len(pairs), classes))
    second = np.zeros((len(pairs), classes))
    for p, (i, j) in enumerate(pairs):
        first[p, i] = 1.0
        second[p, j] = 1.0
    return first, second


def _summarise(decisions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From one-vs-one decisions: the winning class, its confidence features, and per-class margin sums.

    The winner is libsvm's: most pairwise votes, ties broken by the summed margins squashed into
    (-1/3, 1/3). Confidence features: the winner's smallest pairwise margin, and its lead over the next
    class in summed margins.
    """
    first, second = _pair_matrices(len(DOMAINS))
    positive = (decisions > 0).astype(np.float64)
    votes = positive @ first + (1.0 - positive) @ second
    margins = decisions @ (first - second)
    top = np.argmax(votes + margins / (3.0 * (np.abs(margins) + 1.0)), axis=1)
    # Signed margin of each pair from the point of view of the winner (+inf where the winner is not in it).
    sign = first[:, top].T - second[:, top].T
    involved = sign != 0
    smallest = np.where(involved, decisions * sign, np.inf).min(axis=1)
    ordered = np.sort(margins, axis=1)
    lead = margins[np.arange(len(top)), top] - np.where(
        ordered[:, -1] == margins[np.arange(len(top)), top], ordered[:, -2], ordered[:, -1]
    )
    return top, np.column_stack([smallest, lead]), margins


def _fit_temperature(margins: np.ndarray, y: np.ndarray, top: np.ndarray) -> float:
    """Softmax temperature over the non-winning classes that best predicts the true class when the SVM erred."""
    if len(y) == 0:
        return 1.0
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(y))

    def loss(t: float) -> float:
        logits = margins / t
        logits[rows, top] = -np.inf
        logits = logits - logits.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(axis=1))
        return float(np.mean(log_norm - logits[rows, y]))

    return float(minimize_scalar(loss, bounds=(0.05, 50.0), method="bounded").x)


def _ovo_weights(svm: object) -> tuple[np.ndarray, np.ndarray]:
    """Per class pair (i < j, libsvm order) a weight per support vector, so decision = W @ k(x) + b."""
    classes = len(svm.classes_)  # type: ignore[attr-defined]
    counts = svm.n_support_  # type: ignore[attr-defined]
    starts = np.concatenate([[0], np.cumsum(counts)])
    dual = svm.dual_coef_  # type: ignore[attr-defined]
    pairs = [(i, j) for i in range(classes) for j in range(i + 1, classes)]
    weights = np.zeros((len(pairs), int(starts[-1])), dtype=np.float64)
    for p, (i, j) in enumerate(pairs):
        weights[p, starts[i] : starts[i + 1]] = dual[j - 1, starts[i] : starts[i + 1]]
        weights[p, starts[j] : starts[j + 1]] = dual[i, starts[j] : starts[j + 1]]
    return weights, np.asarray(svm.intercept_, dtype=np.float64)  # type: ignore[attr-defined]


def cross_validate(
    texts: Sequence[str],
    embeddings: np.ndarray,
    labels: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    **params: float,
) -> float:
    """Stratified k-fold accuracy of a DomainClassifier with `params` (for choosing hyperparameters)."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labels)
    correct = 0
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(embeddings, y):
        model = DomainClassifier(**params).fit(
            [texts[i] for i in train_idx], embeddings[train_idx], [labels[i] for i in train_idx]
        )
        predictions = model.classify_many(embeddings[test_idx])
        correct += sum(p.domain == y[i] for p, i in zip(predictions, test_idx, strict=True))
    return correct / len(labels)
