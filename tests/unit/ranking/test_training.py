"""A short training run on the synthetic catalog: checkpoint, manifest, learning curves, source-scoring choice."""

from __future__ import annotations

import dataclasses
import hashlib
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from dra_common import mappings
from dra_ranking import training
from dra_ranking.index import CatalogIndex
from dra_ranking.model import DEFAULT_CONFIG, QualityAwareRankingModel, logit
from dra_ranking.ranker import SourceInputs
from dra_ranking.registry import load_checkpoint, read_manifest

QUERIES = {
    "housing prices": {"data_gov_sg": 0.9, "singstat": 0.8, "kaggle": 0.6, "world_bank": 0.2},
    "hdb resale flats": {"data_gov_sg": 0.95, "singstat": 0.7, "kaggle": 0.3, "world_bank": 0.1},
    "property price index": {"singstat": 0.9, "data_gov_sg": 0.8, "kaggle": 0.4, "world_bank": 0.3},
    "co2 emissions": {"world_bank": 0.95, "kaggle": 0.5, "data_gov_sg": 0.2, "singstat": 0.1},
    "carbon emissions per person": {"world_bank": 0.9, "kaggle": 0.6, "data_gov_sg": 0.1, "singstat": 0.1},
    "eeg emotion": {"kaggle": 0.6, "world_bank": 0.05, "data_gov_sg": 0.05, "singstat": 0.05},
    "house price regression": {"kaggle": 0.95, "data_gov_sg": 0.5, "world_bank": 0.1, "singstat": 0.3},
    "bus arrival times": {"data_gov_sg": 0.8, "kaggle": 0.3, "world_bank": 0.05, "singstat": 0.2},
}


class HashEncoder:
    """Deterministic unit vectors from the text (no model, no network); similar texts are not similar."""

    def encode(self, texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return np.stack(out) if out else np.zeros((0, 384), dtype=np.float32)


def _mapping_records() -> list[mappings.Mapping]:
    lines = ["## General Queries"]
    for query, sources in QUERIES.items():
        lines += [f"- {query} → {source} ({score:.2f}) - test judgment" for source, score in sources.items()]
    parsed = mappings.parse_text("\n".join(lines) + "\n")
    assert not parsed.errors
    return parsed.records


def test_short_training_run_writes_a_loadable_model_and_chooses_source_scoring(index: CatalogIndex,
                                                                                tmp_path: Path) -> None:
    cfg = training.TrainConfig.for_mode("quick", max_epochs=4, time_budget_s=60.0, max_pseudo=20)
    encoder = HashEncoder()
    data = training.build_training_data(index, encoder, _mapping_records(), [], [], cfg)
    assert data.full_memory_queries and data.full_memory[0].shape[0] == len(data.full_memory_queries)

    result = training.train(index, encoder, data, cfg, tmp_path, version="test-v1")

    model, meta = load_checkpoint(result.path)
    manifest = read_manifest(result.path.parent / "manifest.json")
    assert manifest["version"] == "test-v1" and manifest["sha256"] and manifest["training_data_hash"] == data.data_hash
    assert model.config["source_scoring"] in ("head", "memory")
    assert model.config["national_source_factor"] in training.NATIONAL_FACTORS
    assert model.memory_emb.shape[0] == len(data.full_memory_queries)
    validation = manifest["metrics"]["validation"]
    assert 0.0 <= validation["train_mappings_loo_ndcg@3_memory"] <= 1.0
    assert len(result.history) >= 2 and result.plot_path is not None and result.plot_path.exists()
    average = manifest["metrics"]["weight_average"]
    # warm-up is 2 epochs at this size: epochs 2, 3 and 4 are averaged unless early stopping came first
    assert average["from_epoch"] == 2 and average["epochs"] == len(result.history) - 2
    assert set(average) >= {"rerank", "source"}
    # no judged queries here: nothing to refit the feature scorers on
    assert manifest["metrics"]["feature_refit"] == {"epochs": cfg.refit_epochs, "groups": 0, "accepted": False}
    scores = model.score_sources(encoder.encode(["housing prices"])[0], "housing prices", ["data_gov_sg", "kaggle"])
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


def test_an_average_is_clearly_worse_only_when_the_paired_drop_exceeds_two_standard_errors():
    incumbent = {f"q{i}": 0.8 for i in range(20)}
    noisy = {q: v + (0.05 if i % 2 else -0.06) for i, (q, v) in enumerate(incumbent.items())}  # mean −0.005
    assert not training.clearly_worse(noisy, incumbent)
    consistent = {q: v - 0.02 + (0.005 if i % 2 else -0.005) for i, (q, v) in enumerate(incumbent.items())}
    assert training.clearly_worse(consistent, incumbent)
    assert not training.clearly_worse({"q0": 0.0}, {"q0": 1.0})  # one query is no evidence
    better = {q: v + 0.01 for q, v in incumbent.items()}
    assert not training.clearly_worse(better, incumbent)


def test_platt_fit_corrects_underconfident_scores():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.05, 0.6, 400)
    relevant = rng.uniform(size=400) < np.clip(2.0 * scores, 0, 1)  # truly twice as likely as the score says
    slope, intercept = training.platt_fit(scores, relevant)
    calibrated = 1 / (1 + np.exp(-(slope * logit(scores) + intercept)))
    assert abs(calibrated.mean() - relevant.mean()) < 0.05  # logistic regression matches the base rate
    assert calibrated[scores > 0.4].mean() > scores[scores > 0.4].mean() + 0.2
    assert training.platt_fit(scores, np.ones(400, dtype=bool)) is None


def _judged_log_likelihood(model: QualityAwareRankingModel, batcher: training._Batcher,
                           groups: list[training.Group]) -> float:
    """Sum over groups of the graded target's log-likelihood under the model's listwise softmax."""
    model.eval()
    with torch.no_grad():
        return sum(
            float((torch.from_numpy(training._grade_target(g.labels).astype(np.float32))
                   * torch.log_softmax(model.pair_logits(training._pair_inputs(model, batcher, [g])), 0)).sum())
            for g in groups
        )


def test_the_refit_fits_the_feature_scorers_to_judged_lists_and_leaves_the_rest(index: CatalogIndex) -> None:
    # The fused order does not know these: each judged query's best answer is a dataset it ranks low.
    judged = [SimpleNamespace(qid=f"j{i}", query=q, judgments={d: 3})
              for i, (q, d) in enumerate([("housing prices", "kaggle:ames/house-prices"),
                                          ("house prices", "kaggle:ames/house-prices"),
                                          ("emissions per person", "world_bank:EN.ATM.CO2E.PC"),
                                          ("co2 emissions", "world_bank:EN.ATM.CO2E.PC"),
                                          ("bus arrival", "lta_datamall:bus-arrival"),
                                          ("eeg emotion recordings", "openneuro:ds000001")])]
    cfg = training.TrainConfig.for_mode("quick", max_pseudo=5, refit_epochs=30)
    data = training.build_training_data(index, HashEncoder(), [], judged, [], cfg)
    groups = [g for g in data.groups if g.kind.startswith("judgment")]
    assert groups
    model = QualityAwareRankingModel(dict(DEFAULT_CONFIG))
    batcher = training._Batcher(index, data, model.vocab_size)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(training.FEATURE_SCORER_PREFIXES)}
    before = _judged_log_likelihood(model, batcher, groups)

    used = training.refit_feature_scorers(model, batcher, data.groups, cfg, random.Random(0))

    assert used == len(groups)
    assert _judged_log_likelihood(model, batcher, groups) > before + 0.5
    for key, value in model.state_dict().items():
        if key in frozen:
            assert torch.equal(value, frozen[key]), key
    none = training.TrainConfig.for_mode("quick", refit_epochs=0)
    assert training.refit_feature_scorers(model, batcher, data.groups, none, random.Random(0)) == 0


def _source_inputs(head: list[float], evidence: list[float]) -> SourceInputs:
    return SourceInputs(["a", "b", "c"], np.array(evidence), np.array(head), np.zeros(3, dtype=bool))


def test_the_source_blend_leaves_the_model_alone_unless_evidence_is_clearly_better() -> None:
    qrels = {f"q{i}": {"a": 100, "b": 20, "c": 0} for i in range(20)}
    # The head orders a > b > c on every query; evidence would put c first.
    head_right = {q: _source_inputs([0.9, 0.5, 0.1], [0.1, 0.2, 0.9]) for q in qrels}
    score, (blend, _) = training._best_mix(head_right, qrels)
    assert blend == max(training.SOURCE_BLENDS) and score == 1.0
    # Evidence helps on a single query only (blend 0.75 fixes q0 and has the best mean): noise, not a
    # reason to mix it in.
    one_off = dict(head_right, q0=_source_inputs([0.3, 0.5, 0.1], [1.0, 0.0, 0.0]))
    assert training._sources_ndcg3(one_off, qrels, 0.75, 1.0) > training._sources_ndcg3(one_off, qrels, 1.0, 1.0)
    assert training._best_mix(one_off, qrels)[1][0] == max(training.SOURCE_BLENDS)
    # The head is wrong everywhere and the evidence right: a lower blend wins clearly.
    evidence_right = {q: _source_inputs([0.1, 0.3, 0.6], [0.9, 0.5, 0.0]) for q in qrels}
    score, (blend, _) = training._best_mix(evidence_right, qrels)
    assert blend < max(training.SOURCE_BLENDS) and score == 1.0


def test_with_a_router_every_training_query_carries_its_domain_as_when_serving(index: CatalogIndex) -> None:
    from dra_common.domain import DOMAINS
    from dra_ranking.features import F

    def route(text: str, embedding: np.ndarray) -> tuple[str, float, tuple[str, ...]]:
        return "machine_learning", 0.7, ()

    judged = [SimpleNamespace(qid="j1", query="house prices", judgments={"kaggle:ames/house-prices": 3}),
              SimpleNamespace(qid="j2", query="co2 emissions", judgments={"world_bank:EN.ATM.CO2E.PC": 3})]
    cfg = training.TrainConfig.for_mode("quick", max_pseudo=5)
    data = training.build_training_data(index, HashEncoder(), [], judged, [], cfg, route)
    assert data.groups and data.route is route
    for g in data.groups:
        assert g.domain == DOMAINS.index("machine_learning")
        assert np.allclose(g.feats[:, F["domain_conf"]], 0.7)
    assert data.source_examples
    assert all(e.domain == DOMAINS.index("machine_learning") for e in data.source_examples)
    unrouted = training.build_training_data(index, HashEncoder(), [], judged, [], cfg)
    assert unrouted.data_hash != data.data_hash


def test_dataset_groups_come_from_the_uncurated_view_and_its_unseen_features_are_ignored(index: CatalogIndex,
                                                                                          tmp_path: Path) -> None:
    from dra_ranking.features import NUM_FEATURES, F

    judged = [SimpleNamespace(qid="j1", query="house prices regression", judgments={"kaggle:ames/house-prices": 3}),
              SimpleNamespace(qid="j2", query="co2 emissions", judgments={"world_bank:EN.ATM.CO2E.PC": 3})]
    cfg = training.TrainConfig.for_mode("quick", max_epochs=2, max_pseudo=10, refit_epochs=2)
    data = training.build_training_data(index, HashEncoder(), [], judged, [], cfg)
    assert data.groups and data.group_index is not None and data.group_index is not index
    assert not any(g.feats[:, F["keyword_cov"]].any() or g.feats[:, F["theme_match"]].any() for g in data.groups)
    assert {"keyword_cov", "theme_match"} <= set(training.unseen_features(data.groups))

    result = training.train(index, HashEncoder(), data, cfg, tmp_path, version="uncurated")

    assert {"keyword_cov", "theme_match"} <= set(result.manifest["metrics"]["ignored_features"])
    model, _ = load_checkpoint(result.path)
    for name in ("keyword_cov", "theme_match"):
        assert model.base.weight[0, F[name]].item() == 0.0
        assert not model.residual[0].weight[:, model.residual[0].in_features - NUM_FEATURES + F[name]].any()
    curated = training.build_training_data(index, HashEncoder(), [], judged, [], dataclasses.replace(cfg, uncurated=False))
    assert curated.data_hash != data.data_hash
    assert any(g.feats[:, F["keyword_cov"]].any() for g in curated.groups)
