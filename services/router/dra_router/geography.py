"""Geography detection by rules: which countries a query is about, and whether it has Singapore intent.

Rules, not a learned model, because place names are a closed, checkable list and a classifier trained on
a few hundred queries cannot know every planning area or agency acronym. The hard part is look-alikes:
"singer", "single-cell", "Sing-along", "SGD optimizer", "Singh", a "pub" in London, an "ERP" system,
Taipei's "MRT". So every Singapore term has a *tier*:

- ``strong``: unambiguous (Singapore, S'pore, 新加坡, HDB, Tampines, data.gov.sg, ...) - enough alone.
- ``weak``: a real Singapore term that other countries share (MRT, MOH, LTA, CPF, upper-case URA/MOE/NEA/PUB,
  capitalised Woodlands, ...) - counts only when the query names no other country or foreign city.
- ``context``: a term that is usually something else (ERP, COE, BTO, SGD, Orchard, Newton, ...) - counts
  only together with a word that pins the Singapore meaning (ERP *gantry*, COE *premium*, Newton *MRT*),
  and then it counts as strong.

Matching is on word boundaries (CJK terms, which have none, match as substrings). Other countries come
from the ISO 3166 names in `pycountry`, plus common aliases, a few non-English names and major cities
whose metro or agencies share Singapore's acronyms.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

STRONG = "strong"
WEAK = "weak"
CONTEXT = "context"

# Context words that pin a Singapore meaning of a `context` term.
_TRANSPORT_CONTEXT = r"mrt|lrt|station|interchange|bus|road|traffic|expressway|line"
_ESTATE_CONTEXT = r"hdb|bto|estate|town|planning area|flats?|precinct|hawker|polyclinic|town council"


@dataclass(frozen=True)
class Term:
    """One Singapore gazetteer entry."""

    pattern: str
    tier: str
    kind: str
    case_sensitive: bool = False
    # Regular expression one of whose matches anywhere in the query confirms a `context` term.
    context: str = ""
    # Regular expression that, matching right after the term, cancels it (e.g. "SG filter").
    not_followed_by: str = ""
    # Canonical evidence label; defaults to the case-folded matched text.
    label: str = ""


def _t(pattern: str, tier: str, kind: str, **kw: str | bool) -> Term:
    return Term(pattern, tier, kind, **kw)  # type: ignore[arg-type]


# Singapore: the country, portals, agencies, programmes and places (URA planning areas and well-known towns).
SINGAPORE_TERMS: tuple[Term, ...] = (
    # The country itself, in English, Malay, German/Spanish, French and Chinese.
    _t(r"singapore(?:an)?s?", STRONG, "country", label="singapore"),
    _t(r"republic of singapore", STRONG, "country", label="singapore"),
    _t(r"s['’]pore(?:an)?s?", STRONG, "country", label="s'pore"),
    _t(r"singapura|singapur|singapour", STRONG, "country", label="singapore"),
    _t(r"新加坡|星加坡", STRONG, "country", label="singapore"),
    _t("\U0001F1F8\U0001F1EC", STRONG, "country", label="singapore"),
    _t(r"SG|sg", STRONG, "country", case_sensitive=True, not_followed_by=r"\s*(?:&|-?\s*(?:filter|smooth))", label="sg"),
    _t(r"SGP", STRONG, "country", case_sensitive=True, label="sgp"),
    _t(r"SGD", CONTEXT, "currency", case_sensitive=True,
       context=r"exchange|currency|dollars?|usd|fx|forex|myr|eur|jpy|cny|inr", label="sgd"),
    # Portals and agencies.
    _t(r"data\.gov\.sg|[a-z0-9.-]+\.gov\.sg", STRONG, "portal", label="gov.sg"),
    _t(r"singstat", STRONG, "portal"),
    _t(r"(?:lta\s+)?datamall", STRONG, "portal", label="datamall"),
    _t(r"onemap", STRONG, "portal"),
    _t(r"hdb", STRONG, "agency"),
    _t(r"lta", WEAK, "agency"),
    _t(r"URA", WEAK, "agency", case_sensitive=True),
    _t(r"cpf", WEAK, "programme"),
    _t(r"moh", WEAK, "agency"),
    _t(r"MOE", WEAK, "agency", case_sensitive=True),
    _t(r"NEA", WEAK, "agency", case_sensitive=True),
    _t(r"PUB", WEAK, "agency", case_sensitive=True),
    _t(r"MAS", WEAK, "agency", case_sensitive=True),
    _t(r"MOM", WEAK, "agency", case_sensitive=True),
    _t(r"NUS", WEAK, "institution", case_sensitive=True),
    _t(r"NTU", WEAK, "institution", case_sensitive=True),
    _t(r"ITE", WEAK, "institution", case_sensitive=True),
    _t(r"NLB", WEAK, "agency", case_sensitive=True),
    _t(r"JTC", WEAK, "agency", case_sensitive=True),
    _t(r"IRAS|ACRA|IMDA|SUTD", STRONG, "agency", case_sensitive=True),
    _t(r"nparks|govtech|a\*star|scdf|mindef|cpfb|ntuc|temasek|singpass|activesg|sportsg|healthhub", STRONG, "agency"),
    _t(r"MOF|MTI|MND|EDB|HPB|STB", WEAK, "agency", case_sensitive=True),
    _t(r"lion city|merlion", STRONG, "country", label="singapore"),
    _t(r"mrt", WEAK, "transport"),
    _t(r"ez-?link|simplygo", STRONG, "transport"),
    _t(r"(?:thomson[- ]east coast|downtown|north[- ]east|east[- ]west|north[- ]south) line", STRONG, "transport"),
    _t(r"circle line", CONTEXT, "transport", context=r"mrt|station|singapore"),
    _t(r"AYE|CTE|PIE|ECP|KPE|SLE|TPE|BKE|KJE|MCE", CONTEXT, "transport", case_sensitive=True,
       context=r"expressway|traffic|jam|congestion|speed|accident|road"),
    _t(r"coe", CONTEXT, "programme", context=r"prices?|premiums?|bid(?:ding|s)?|quotas?|category|cat [a-e]|vehicle|car"),
    _t(r"certificates? of entitlement", STRONG, "programme"),
    _t(r"erp", CONTEXT, "programme", context=r"gantry|gantries|charges|road pricing|rates|toll|traffic"),
    _t(r"bto", CONTEXT, "programme",
       context=r"flats?|launch(?:es)?|hdb|estate|housing|ballot(?:ing)?|application|project|sales? exercise"),
    _t(r"psle|skillsfuture|medishield(?: life)?|medisave|medifund|cdc vouchers?|gst vouchers?", STRONG, "programme"),
    _t(r"baby bonus", WEAK, "programme"),
    _t(r"o-levels?|a-levels?", CONTEXT, "programme", context=r"singapore|moe|sec(?:ondary)? school|jc"),
    # URA planning areas and towns. Ambiguous names are weak or need context.
    _t(
        r"ang mo kio|bedok|bishan|boon lay|bukit (?:batok|merah|panjang|timah|gombak)|changi|choa chu kang|"
        r"clementi|geylang|hougang|jurong(?: east| west| island| lake)?|kallang|lim chu kang|mandai|"
        r"marina bay|marina south|marina east|pasir ris|pasir panjang|paya lebar|punggol|seletar|sembawang|"
        r"sengkang|serangoon|tampines|tanglin|tengah|toa payoh|tuas|yishun|sentosa|pulau ubin|pulau semakau|"
        r"tiong bahru|tanjong pagar|raffles place|kampong glam|buona vista|one-north|kranji|simei|eunos|"
        r"kembangan|potong pasir|telok blangah|boon keng|holland village|sungei kadut|bukit brown|kent ridge|"
        r"farrer park|joo koon|woodleigh|yew tee|marsiling|lentor|tai seng|kaki bukit|loyang|buangkok|katong|"
        r"siglap|east coast park|dhoby ghaut|bras basah|clarke quay|boat quay",
        STRONG,
        "place",
    ),
    _t(r"orchard road", STRONG, "place"),
    _t(r"Woodlands|Queenstown|Bugis|Harbourfront|HarbourFront|Marine Parade|Tanah Merah|Jalan Besar", WEAK, "place",
       case_sensitive=True),
    _t(r"hawker cent(?:re|er)s?", WEAK, "place"),
    _t(r"woodlands|queenstown|novena|newton|outram|orchard|pioneer|museum|downtown core|chinatown|little india|"
       r"river valley|marine parade|bugis|harbourfront",
       CONTEXT, "place", context=_TRANSPORT_CONTEXT + "|" + _ESTATE_CONTEXT),
)

# Common names pycountry does not list, non-English names, and cities that disambiguate shared acronyms.
_COUNTRY_ALIASES: dict[str, str] = {
    "USA": "US", "U.S.A.": "US", "U.S.": "US", "US": "US", "United States": "US", "America": "US",
    "UK": "GB", "U.K.": "GB", "Britain": "GB", "Great Britain": "GB", "England": "GB", "Scotland": "GB",
    "Wales": "GB", "Northern Ireland": "GB",
    "Russia": "RU", "South Korea": "KR", "Korea": "KR", "North Korea": "KP", "Vietnam": "VN", "Laos": "LA",
    "Iran": "IR", "Syria": "SY", "Taiwan": "TW", "Czech Republic": "CZ", "Czechia": "CZ", "Turkey": "TR",
    "Holland": "NL", "Ivory Coast": "CI", "Burma": "MM", "Macau": "MO", "Macao": "MO", "Hong Kong": "HK",
    "Brunei": "BN", "Bolivia": "BO", "Venezuela": "VE", "Tanzania": "TZ", "Moldova": "MD", "Palestine": "PS",
    "East Timor": "TL", "Swaziland": "SZ", "Cape Verde": "CV", "Vatican": "VA", "Micronesia": "FM",
    "Deutschland": "DE", "España": "ES", "Espana": "ES", "Brasil": "BR", "México": "MX", "Italia": "IT",
    "Nederland": "NL", "Schweiz": "CH", "Suisse": "CH", "Österreich": "AT", "Polska": "PL", "Nippon": "JP",
    "Malaysian": "MY", "Indonesian": "ID",
    "中国": "CN", "日本": "JP", "韩国": "KR", "香港": "HK", "台湾": "TW", "马来西亚": "MY", "印度": "IN",
    "美国": "US", "英国": "GB", "德国": "DE", "法国": "FR",
    # Cities (metros named MRT/LRT, ministries abbreviated MOH/MOE, ...).
    "Taipei": "TW", "Kaohsiung": "TW", "Taichung": "TW", "Bangkok": "TH", "Jakarta": "ID", "Surabaya": "ID",
    "Kuala Lumpur": "MY", "Penang": "MY", "Johor": "MY", "Johor Bahru": "MY", "Klang Valley": "MY",
    "Manila": "PH", "Cebu": "PH", "Dhaka": "BD", "Ho Chi Minh City": "VN", "Hanoi": "VN", "Seoul": "KR",
    "Busan": "KR", "Tokyo": "JP", "Osaka": "JP", "Beijing": "CN", "Shanghai": "CN", "Shenzhen": "CN",
    "Guangzhou": "CN", "Mumbai": "IN", "Delhi": "IN", "New Delhi": "IN", "Bangalore": "IN", "Bengaluru": "IN",
    "Karachi": "PK", "London": "GB", "Manchester": "GB", "Paris": "FR", "Berlin": "DE", "Munich": "DE",
    "Madrid": "ES", "Barcelona": "ES", "Rome": "IT", "Milan": "IT", "Amsterdam": "NL", "Stockholm": "SE",
    "New York": "US", "New York City": "US", "NYC": "US", "Chicago": "US", "San Francisco": "US",
    "Los Angeles": "US", "Boston": "US", "Seattle": "US", "Washington DC": "US", "Toronto": "CA",
    "Vancouver": "CA", "Montreal": "CA", "Sydney": "AU", "Melbourne": "AU", "Brisbane": "AU", "Perth": "AU",
    "Auckland": "NZ", "Wellington": "NZ", "Dubai": "AE", "Abu Dhabi": "AE", "Riyadh": "SA", "Cairo": "EG",
    "Lagos": "NG", "Nairobi": "KE", "Accra": "GH", "Johannesburg": "ZA", "Cape Town": "ZA",
    "São Paulo": "BR", "Sao Paulo": "BR", "Rio de Janeiro": "BR", "Buenos Aires": "AR", "Mexico City": "MX",
    "Lima": "PE", "Bogotá": "CO", "Bogota": "CO", "Santiago": "CL", "Istanbul": "TR", "Moscow": "RU",
}

# Country names that are also ordinary words or names: matched only when capitalised, and not in these phrases.
_CASE_SENSITIVE_COUNTRIES = {
    "Chad", "Jordan", "Georgia", "Guinea", "Turkey", "Jersey", "Niger", "Mali", "Chile", "China", "Japan",
    "Oman", "Peru", "Togo", "Cuba", "Iran", "Panama", "Monaco", "Malta", "Dominica", "Grenada", "Jamaica",
    "US", "America", "Korea", "Nippon",
}
_NOT_A_COUNTRY = re.compile(
    r"guinea pigs?|new jersey|new mexico|michael jordan|latin america|south america|north america|"
    r"central america|americas|american|georgia tech|turkey (?:bird|breast|population)|"
    r"china (?:clay|ware|porcelain)|chile peppers?|wild turkey|us dollars?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Geography:
    """The geography of one query."""

    # ISO 3166-1 alpha-2 codes in order of first mention.
    countries: tuple[str, ...]
    singapore_intent: bool
    # Case-folded terms that triggered the Singapore decision (kept also when it was vetoed).
    evidence: tuple[str, ...]
    # Why the Singapore decision came out as it did, for the response's reason string.
    explanation: str


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def _bounded(pattern: str) -> str:
    """Word-bounded pattern; CJK terms have no word boundaries, so they match as substrings."""
    if _CJK.search(pattern):
        return f"(?:{pattern})"
    return rf"(?<!\w)(?:{pattern})(?!\w)"


@dataclass(frozen=True)
class _Compiled:
    sg_insensitive: re.Pattern[str]
    sg_sensitive: re.Pattern[str]
    sg_terms: tuple[Term, ...]
    countries_insensitive: re.Pattern[str]
    countries_sensitive: re.Pattern[str]
    country_codes: dict[str, str]
    contexts: tuple[re.Pattern[str] | None, ...]
    not_followed: tuple[re.Pattern[str] | None, ...]


def _trie_pattern(words: list[str]) -> str:
    """One regular expression matching any of `words`, factored as a trie.

    Python's `re` tries alternatives one by one; with some 400 country names a flat alternation costs a
    millisecond per query, the trie a few microseconds.
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, dict]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return build(trie)


def _group_pattern(terms: list[tuple[int, str]]) -> str:
    return "|".join(f"(?P<t{i}>{_bounded(p)})" for i, p in terms)


@lru_cache(maxsize=1)
def _compiled() -> _Compiled:
    """Build the regular expressions once per process (on first use, not at import)."""
    import pycountry

    terms = SINGAPORE_TERMS
    insensitive = [(i, t.pattern) for i, t in enumerate(terms) if not t.case_sensitive]
    sensitive = [(i, t.pattern) for i, t in enumerate(terms) if t.case_sensitive]
    names: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if not value:
                continue
            names.setdefault(value, code)
            if "," in value:
                names.setdefault(value.split(",")[0].strip(), code)
    names.update(_COUNTRY_ALIASES)
    names.pop("Singapore", None)
    names.pop("Republic of Singapore", None)
    ci = [n for n in names if n not in _CASE_SENSITIVE_COUNTRIES]
    cs = [n for n in names if n in _CASE_SENSITIVE_COUNTRIES]
    codes = {n.casefold(): c for n, c in names.items()}
    return _Compiled(
        sg_insensitive=re.compile(_group_pattern(insensitive), re.IGNORECASE),
        sg_sensitive=re.compile(_group_pattern(sensitive)),
        sg_terms=terms,
        countries_insensitive=re.compile(
            "|".join(
                _bounded(_trie_pattern([n.casefold() for n in ci if bool(_CJK.search(n)) is cjk]))
                for cjk in (False, True)
            ),
            re.IGNORECASE,
        ),
        countries_sensitive=re.compile(_bounded(_trie_pattern(cs))),
        country_codes=codes,
        contexts=tuple(re.compile(_bounded(t.context), re.IGNORECASE) if t.context else None for t in terms),
        not_followed=tuple(re.compile(t.not_followed_by, re.IGNORECASE) if t.not_followed_by else None for t in terms),
    )


def _prepare(query: str) -> str:
    return unicodedata.normalize("NFKC", query).replace("’", "'")


def detect(query: str) -> Geography:
    """Countries mentioned in `query` and its Singapore intent, with the terms that decided it."""
    c = _compiled()
    text = _prepare(query)
    blocked = [m.span() for m in _NOT_A_COUNTRY.finditer(text)]

    def is_blocked(span: tuple[int, int]) -> bool:
        return any(b[0] <= span[0] and span[1] <= b[1] for b in blocked)

    spans: list[tuple[int, int, str]] = []
    for pattern in (c.countries_insensitive, c.countries_sensitive):
        for m in pattern.finditer(text):
            if not is_blocked(m.span()):
                spans.append((m.start(), m.end(), c.country_codes[m.group(0).casefold()]))
    # "Papua New Guinea" is one country, not also Guinea: drop mentions inside a longer one.
    mentions = [
        (start, code)
        for start, end, code in spans
        if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans)
    ]

    strong: list[tuple[int, str]] = []
    weak: list[tuple[int, str]] = []
    for pattern in (c.sg_insensitive, c.sg_sensitive):
        for m in pattern.finditer(text):
            index = int(next(k for k, v in m.groupdict().items() if v is not None)[1:])
            term = c.sg_terms[index]
            after = c.not_followed[index]
            if after is not None and after.match(text, m.end()):
                continue
            label = term.label or m.group(0).casefold()
            if term.tier == STRONG:
                strong.append((m.start(), label))
            elif term.tier == WEAK:
                weak.append((m.start(), label))
            else:
                ctx = c.contexts[index]
                if ctx is not None and any(x.span() != m.span() for x in ctx.finditer(text)):
                    strong.append((m.start(), label))

    others = sorted({code for _, code in mentions if code != "SG"})
    evidence = tuple(dict.fromkeys(label for _, label in sorted(strong + weak)))
    if strong:
        intent = True
        explanation = f"Singapore terms: {', '.join(dict.fromkeys(label for _, label in sorted(strong)))}"
    elif weak and not others:
        intent = True
        explanation = f"Singapore terms: {', '.join(dict.fromkeys(label for _, label in sorted(weak)))}"
    elif weak:
        intent = False
        explanation = (
            f"'{', '.join(dict.fromkeys(label for _, label in weak))}' also names places or bodies outside "
            f"Singapore and the query mentions {', '.join(others)}"
        )
    else:
        intent = False
        explanation = "no Singapore place, agency or programme in the query"
    first: dict[str, int] = {}
    for pos, code in sorted(mentions):
        first.setdefault(code, pos)
    if intent:
        pos = min(p for p, _ in strong + weak)
        first["SG"] = min(first.get("SG", pos), pos)
    countries = tuple(code for code, _ in sorted(first.items(), key=lambda kv: kv[1]))
    return Geography(countries=countries, singapore_intent=intent, evidence=evidence, explanation=explanation)
