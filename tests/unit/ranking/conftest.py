"""Small synthetic catalogs for ranking unit tests (no network, no encoder: random unit embeddings)."""

from __future__ import annotations

import numpy as np
import pytest

from dra_ranking.catalog import DatasetRecord
from dra_ranking.index import CatalogIndex

_ROWS = [
    ("data_gov_sg:d_hdb", "data_gov_sg", "HDB resale flat prices", "Resale prices of HDB flats by town and flat type.",
     ["housing", "resale", "hdb"], ["SG"], ["economics_finance"], 0.9),
    ("singstat:M212881", "singstat", "Private residential property price index", "Quarterly price index of homes.",
     ["housing", "property", "price index"], ["SG"], ["economics_finance"], 0.8),
    ("kaggle:ames/house-prices", "kaggle", "House prices advanced regression", "Sale prices of houses in Ames, Iowa.",
     ["housing", "regression"], ["US"], ["machine_learning"], 0.7),
    ("world_bank:EN.ATM.CO2E.PC", "world_bank", "CO2 emissions (metric tons per capita)",
     "Carbon dioxide emissions from burning fossil fuels per person.", ["climate", "co2", "emissions"], ["global"],
     ["climate_environment"], 0.8),
    ("openneuro:ds000001", "openneuro", "EEG recordings during emotional film clips",
     "Scalp EEG of participants watching emotional videos, with self-reported valence.", ["eeg", "emotion"],
     ["global"], ["psychology"], 0.6),
    ("lta_datamall:bus-arrival", "lta_datamall", "Bus arrival times", "Real-time bus arrival estimates at stops.",
     ["bus", "transport", "arrival"], ["SG"], ["transport_urban"], 0.7),
]


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture()
def records() -> list[DatasetRecord]:
    """Six records with random (fixed-seed) embeddings."""
    rng = np.random.default_rng(7)
    return [
        DatasetRecord(id=i, source=s, title=t, description=d, keywords=k, geography=g, themes=th,
                      metadata_quality=q, landing_page=f"https://example.org/{n}", embedding=_unit(rng))
        for n, (i, s, t, d, k, g, th, q) in enumerate(_ROWS)
    ]


@pytest.fixture()
def index(records: list[DatasetRecord]) -> CatalogIndex:
    """An index over the six records."""
    return CatalogIndex(records, version=3)


@pytest.fixture()
def query_vec() -> np.ndarray:
    """A random unit query embedding."""
    return _unit(np.random.default_rng(11))
