"""Router unit-test fixtures: the real sentence encoder (shipped in a package, loaded from disk) and a router
trained on the train splits, shared by the whole session because loading and training take seconds."""

from __future__ import annotations

import pytest

from dra_common import mappings
from dra_common.evalsets import LabelledQuery, load_labelled
from dra_router.routing import Router, build_router


@pytest.fixture(scope="session")
def encoder():  # noqa: ANN201 - SentenceEncoder, imported lazily
    from dra_common.encoder import SentenceEncoder

    return SentenceEncoder(threads=1)


@pytest.fixture(scope="session")
def labelled() -> list[LabelledQuery]:
    return load_labelled()


@pytest.fixture(scope="session")
def parsed_mappings() -> mappings.ParseResult:
    return mappings.parse_file()


@pytest.fixture(scope="session")
def router(encoder, parsed_mappings: mappings.ParseResult, labelled: list[LabelledQuery]) -> Router:
    return build_router(encoder, parsed_mappings, labelled)
