"""Domain types shared by every service: domains, sources and their registry."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The 8 domains follow the sections of the training mappings (see README, "Domains").
DOMAINS: tuple[str, ...] = (
    "psychology",
    "machine_learning",
    "climate_environment",
    "economics_finance",
    "health_medicine",
    "education",
    "transport_urban",
    "general",
)


@dataclass(frozen=True)
class SourceInfo:
    """A registered data source."""

    name: str
    title: str
    kind: str
    home_page: str
    country: str
    singapore_public_sector: bool
    # Regular expression every landing page of this source matches.
    url_pattern: str

    def url_ok(self, url: str) -> bool:
        """Whether `url` follows this source's URL scheme."""
        return re.match(self.url_pattern, url) is not None


GOVERNMENT_PORTAL = "government portal"
STATISTICS_OFFICE = "statistics office"
RESEARCH_REPOSITORY = "research repository"
COMPETITION_PLATFORM = "competition platform"
INTERNATIONAL_ORGANISATION = "international organisation"

SOURCES: tuple[SourceInfo, ...] = (
    SourceInfo("data_gov_sg", "data.gov.sg", GOVERNMENT_PORTAL, "https://data.gov.sg", "SG", True,
               r"^https://data\.gov\.sg/datasets/d_[0-9a-f]{32}/view$"),
    SourceInfo("singstat", "Department of Statistics Singapore (SingStat)", STATISTICS_OFFICE,
               "https://www.singstat.gov.sg", "SG", True, r"^https://(tablebuilder\.)?singstat\.gov\.sg/|^https://www\.singstat\.gov\.sg/"),
    SourceInfo("lta_datamall", "LTA DataMall", GOVERNMENT_PORTAL, "https://datamall.lta.gov.sg", "SG", True,
               r"^https://datamall\.lta\.gov\.sg/"),
    SourceInfo("onemap", "OneMap (Singapore Land Authority)", GOVERNMENT_PORTAL, "https://www.onemap.gov.sg", "SG", True,
               r"^https://www\.onemap\.gov\.sg/"),
    SourceInfo("world_bank", "World Bank Open Data", INTERNATIONAL_ORGANISATION, "https://data.worldbank.org", "global",
               False, r"^https://data\.worldbank\.org/indicator/[A-Za-z0-9_.]+$"),
    SourceInfo("imf", "International Monetary Fund data", INTERNATIONAL_ORGANISATION, "https://data.imf.org", "global",
               False, r"^https://(data\.imf\.org|www\.imf\.org)/"),
    SourceInfo("oecd", "OECD Data", INTERNATIONAL_ORGANISATION, "https://data.oecd.org", "global", False,
               r"^https://([a-z-]+\.)?oecd\.org/"),
    SourceInfo("un_data", "United Nations data", INTERNATIONAL_ORGANISATION, "https://data.un.org", "global", False,
               r"^https://([a-z-]+\.)*(un\.org|unesco\.org|unicef\.org|unhcr\.org|fao\.org|ilo\.org)/"),
    SourceInfo("who", "World Health Organization data", INTERNATIONAL_ORGANISATION, "https://www.who.int/data",
               "global", False, r"^https://([a-z-]+\.)?who\.int/"),
    SourceInfo("kaggle", "Kaggle", COMPETITION_PLATFORM, "https://www.kaggle.com", "global", False,
               r"^https://www\.kaggle\.com/(datasets|competitions)/[^/\s]+(/[^/\s]+)?/?$"),
    SourceInfo("zenodo", "Zenodo", RESEARCH_REPOSITORY, "https://zenodo.org", "global", False,
               r"^https://zenodo\.org/records?/\d+$"),
    SourceInfo("aws_opendata", "Registry of Open Data on AWS", RESEARCH_REPOSITORY, "https://registry.opendata.aws",
               "global", False, r"^https://registry\.opendata\.aws/[a-z0-9-]+/?$"),
    SourceInfo("uci_ml", "UCI Machine Learning Repository", RESEARCH_REPOSITORY, "https://archive.ics.uci.edu",
               "global", False, r"^https://archive\.ics\.uci\.edu/dataset/\d+(/[^/\s]*)?$"),
    SourceInfo("openneuro", "OpenNeuro", RESEARCH_REPOSITORY, "https://openneuro.org", "global", False,
               r"^https://openneuro\.org/datasets/ds\d{6}/?$"),
    SourceInfo("physionet", "PhysioNet", RESEARCH_REPOSITORY, "https://physionet.org", "global", False,
               r"^https://physionet\.org/content/[A-Za-z0-9_.-]+/?([0-9.]+/?)?$"),
    SourceInfo("huggingface", "Hugging Face Datasets", RESEARCH_REPOSITORY, "https://huggingface.co/datasets",
               "global", False, r"^https://huggingface\.co/datasets/[^\s]+$"),
)

SOURCE_BY_NAME: dict[str, SourceInfo] = {s.name: s for s in SOURCES}
SOURCE_NAMES: tuple[str, ...] = tuple(s.name for s in SOURCES)
SINGAPORE_SOURCES: tuple[str, ...] = tuple(s.name for s in SOURCES if s.singapore_public_sector)


def dataset_id(source: str, source_id: str) -> str:
    """The catalog's stable id of a record: `<source>:<source_id>`."""
    return f"{source}:{source_id}"
