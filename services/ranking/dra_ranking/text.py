"""Tokenisation shared by the BM25 index, the features and the model's hashed-token vocabulary.

One tokenizer for documents and queries, so a query term matches the stored term exactly: lower-cased
word tokens of two or more characters ("non-" joined to the word it negates), English stop words and
request filler words removed, Snowball stems (PyStemmer, the stemmer bm25s recommends).
"""

from __future__ import annotations

import re
import zlib
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN

TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")
# "non-EEG", "non-residents": the prefix negates the word, so it stays one term ("noneeg") rather than
# matching every query that names the word itself.
NEGATED_RE = re.compile(r"(?u)\bnon-(?=\w)")

# Words people put around a request ("I need data about ...") that say nothing about the datasets.
FILLER_WORDS = frozenset(
    {
        "need", "needs", "needed", "looking", "look", "want", "wanted", "find", "finding", "would", "like",
        "help", "please", "me", "my", "we", "our", "us", "you", "your", "about", "which", "what", "where",
        "how", "can", "could", "should", "some", "any", "from", "using", "get", "also", "am", "do", "does",
        "i'm", "im", "something", "anything", "etc", "e.g", "eg", "ie", "has", "have", "had", "its", "his",
        "her", "there", "than", "then", "so", "very", "much", "many", "more", "most", "other", "such",
    }
)
STOPWORDS = frozenset(STOPWORDS_EN) | FILLER_WORDS


@lru_cache(maxsize=1)
def _stemmer():  # noqa: ANN202 - PyStemmer has no type stubs
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased word tokens without stop words (unstemmed): what a person would call the terms."""
    return [w for w in TOKEN_RE.findall(NEGATED_RE.sub("non", text.lower())) if w not in STOPWORDS]


def stems(tokens: list[str]) -> list[str]:
    """Snowball stems of `tokens` (same length, same order)."""
    if not tokens:
        return []
    return list(_stemmer().stemWords(tokens))


def tokenize(text: str) -> list[str]:
    """Index terms of `text`: words, stop words removed, stemmed."""
    return stems(words(text))


def hash_token(token: str, vocab_size: int) -> int:
    """Stable bucket in [1, vocab_size) of a term; 0 is padding. crc32 so ids survive restarts."""
    return 1 + zlib.crc32(token.encode("utf-8")) % (vocab_size - 1)


def hash_tokens(tokens: list[str], vocab_size: int, limit: int = 64) -> list[int]:
    """Bucket ids of the first `limit` distinct terms (the model's hashed-token vocabulary)."""
    seen: dict[str, None] = {}
    for tok in tokens:
        if tok not in seen:
            seen[tok] = None
            if len(seen) >= limit:
                break
    return [hash_token(t, vocab_size) for t in seen]


# Country and region names mapped to the ISO 3166-1 alpha-2 codes catalog records use. Only used to see
# whether a query names a dataset's geography; the router does the real geography detection.
GEOGRAPHY_NAMES: dict[str, tuple[str, ...]] = {
    "SG": ("singapore", "singaporean", "sg", "hdb", "lta", "ura", "moh", "moe", "cpf", "mrt"),
    "MY": ("malaysia", "malaysian"),
    "ID": ("indonesia", "indonesian"),
    "TH": ("thailand", "thai"),
    "VN": ("vietnam", "vietnamese"),
    "PH": ("philippines", "filipino"),
    "CN": ("china", "chinese"),
    "HK": ("hong kong",),
    "TW": ("taiwan",),
    "JP": ("japan", "japanese"),
    "KR": ("korea", "korean"),
    "IN": ("india", "indian"),
    "AU": ("australia", "australian"),
    "NZ": ("new zealand",),
    "US": ("united states", "usa", "america", "american", "u.s."),
    "CA": ("canada", "canadian"),
    "MX": ("mexico", "mexican"),
    "BR": ("brazil", "brazilian"),
    "GB": ("united kingdom", "uk", "britain", "british", "england"),
    "DE": ("germany", "german"),
    "FR": ("france", "french"),
    "IT": ("italy", "italian"),
    "ES": ("spain", "spanish"),
    "NL": ("netherlands", "dutch"),
    "CH": ("switzerland", "swiss"),
    "SE": ("sweden", "swedish"),
    "NO": ("norway", "norwegian"),
    "FI": ("finland", "finnish"),
    "DK": ("denmark", "danish"),
    "ZA": ("south africa",),
    "NG": ("nigeria",),
    "KE": ("kenya",),
    "EG": ("egypt",),
    "global": ("global", "world", "worldwide", "international", "countries", "cross-country", "cross country"),
}
_GEO_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (code, re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")) for code, names in GEOGRAPHY_NAMES.items()
]


def query_geographies(query: str) -> set[str]:
    """Geography codes a query names (by the small table above)."""
    lowered = query.lower()
    return {code for code, pattern in _GEO_PATTERNS if pattern.search(lowered)}
