"""Surnames by language, laid out as the PyTorch names tutorial reads them: one ``<Language>.txt`` per language,
one name per line (the RNN 1 notes' names -> language classifier).

The names are the person lists of two fake-data packages, each list a locale's own surnames: Faker keeps them in
Python source (``faker/providers/person/<locale>/__init__.py``), read here with ``ast`` (literals only: nothing is
imported or run), and Mimesis in JSON (``mimesis/datasets/<locale>/person.json``). A language takes the lists of
countries where it is the language of the people (``LANGUAGES``), and only lists of that language's names: those of
Switzerland and Belgium (several languages) and Mimesis's of the United States and Brazil (immigrants of every
origin) are left out; Faker's Brazilian list, all Portuguese names, is kept. Names stay in the
script their list gives (Arabic, Chinese, Greek, Japanese, Korean and Russian ones in their own). The tutorial's
Scottish and Vietnamese have no such list (Faker's Vietnamese holds ten names) and are left out.

What :func:`write_names` lays out::

    all/<Language>.txt      every name of the language (the tutorial's data/names/)
    train/<Language>.txt    the names of the training split
    test/<Language>.txt     a seeded tenth of each language's names, held out by name: a name listed under two
                            languages lies on the same side in both, so no test name is seen in training
    names.json              the sources, and the counts per language
"""
from __future__ import annotations

import ast
import json
import random
import unicodedata
from pathlib import Path

from ..errors import UserError

# language -> (Faker locales, Mimesis locales), in the order of SOURCES
LANGUAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Arabic": (("ar_AA", "ar_DZ", "ar_PS", "ar_SA"),
               ("ar", "ar-ae", "ar-dz", "ar-eg", "ar-jo", "ar-kw", "ar-ma", "ar-om", "ar-qa", "ar-sa", "ar-sy", "ar-tn",
                "ar-ye")),
    "Chinese": (("zh_CN", "zh_TW"), ("zh",)),
    "Czech": (("cs_CZ",), ("cs",)),
    "Dutch": (("nl_NL",), ("nl",)),
    "English": (("en_GB",), ()),           # Mimesis's en and en-gb lists are the United States census's
    "French": (("fr_FR",), ("fr",)),
    "German": (("de_DE", "de_AT"), ("de", "de-at")),
    "Greek": (("el_GR",), ("el",)),
    "Irish": (("ga_IE",), ()),             # in Irish spelling (Ó Briain); Faker's en_IE has the anglicised forms
    "Italian": (("it_IT",), ("it",)),
    "Japanese": (("ja_JP",), ("ja",)),
    "Korean": (("ko_KR",), ("ko",)),
    "Polish": (("pl_PL",), ("pl",)),
    "Portuguese": (("pt_PT", "pt_BR"), ("pt",)),
    "Russian": (("ru_RU",), ("ru",)),
    "Spanish": (("es_ES",), ("es",)),
}
TEST_SHARE = 0.1
SEED = 20170324           # the tutorial's first publication date


def clean(name: str) -> str:
    """A name in Unicode's composed form (NFC), its spaces collapsed.

    >>> clean("  Abu   Bakr "), clean("Mu\\u0308ller") == "Müller"
    ('Abu Bakr', True)
    """
    return " ".join(unicodedata.normalize("NFC", name).split())


def _strings(value) -> list[str]:
    """The names in a literal: its strings, a dict's keys, or each tuple's first field (Faker's Japanese
    ``(kanji, kana, romaji)``)."""
    items = list(value) if isinstance(value, (dict, list, tuple, set, frozenset)) else []
    out = []
    for item in items:
        while isinstance(item, (tuple, list)) and item:
            item = item[0]
        if isinstance(item, str):
            out.append(item)
    return out


def faker_surnames(source: str, where: str) -> list[str]:
    """The surnames a Faker person provider's source lists: each literal assigned in a class to a name holding
    ``last_name`` (``last_names``, ``last_names_male``, ``unisex_last_names``, ``last_name_pairs`` ...), or an
    ``OrderedDict`` of one (names weighted by frequency). Lists made from others (``last_names_male +
    last_names_female``) are not literals and are passed over, and so are the romanised and kana lists.

    >>> faker_surnames('''class Provider:
    ...     last_names = ("Nowak", "Kowalski")
    ...     last_names_all = last_names + ("X",)
    ...     first_names = ("Jan",)
    ...     last_names_f = OrderedDict((("Nowakowa", 0.5),))''', "pl")
    ['Nowak', 'Kowalski', 'Nowakowa']
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise UserError(f"expected Python source in {where}; line {e.lineno}: {e.msg}") from None
    names = []
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for stmt in cls.body:
            target = stmt.targets[0] if isinstance(stmt, ast.Assign) else getattr(stmt, "target", None)
            label = getattr(target, "id", "")
            if "last_name" not in label or "romanized" in label or "kana" in label or stmt.value is None:
                continue
            value = stmt.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "OrderedDict" and len(value.args) == 1:
                value = value.args[0]
            try:
                names += _strings(ast.literal_eval(value))
            except ValueError:                 # not a literal: made from other lists
                continue
    return names


def mimesis_surnames(text: str, where: str) -> list[str]:
    """The surnames of a Mimesis ``person.json``: ``surnames`` is a list, or one list per gender."""
    try:
        surnames = json.loads(text).get("surnames")
    except (json.JSONDecodeError, AttributeError):
        surnames = None
    if isinstance(surnames, dict):
        surnames = [n for part in surnames.values() for n in part]
    if not isinstance(surnames, list):
        raise UserError(f"expected a list of surnames under 'surnames' in {where}; found none")
    return [n for n in surnames if isinstance(n, str)]


# package -> (the member holding a locale's lists, its reader: (text, where) -> surnames)
SOURCES = {"faker": ("faker/providers/person/{}/__init__.py", faker_surnames),
           "mimesis": ("mimesis/datasets/{}/person.json", mimesis_surnames)}


def split_by_name(by_language: dict[str, list[str]], share: float = TEST_SHARE,
                  seed: int = SEED) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(train, test): ``share`` of each language's names held out, seeded. Languages are taken smallest first; a
    name already placed by another language keeps its side and counts towards this language's share.

    >>> train, test = split_by_name({"A": ["x", "y", "z", "w"], "B": ["x", "v"]}, share=0.5, seed=0)
    >>> all(("x" in test[l]) == ("x" in test["A"]) for l in "AB"), [len(test[l]) for l in "AB"]
    (True, [2, 1])
    """
    rng = random.Random(seed)
    side: dict[str, bool] = {}                  # name -> held out
    for language in sorted(by_language, key=lambda l: (len(by_language[l]), l)):
        names = sorted(set(by_language[language]))
        quota = round(share * len(names)) - sum(side.get(n, False) for n in names)
        free = [n for n in names if n not in side]
        rng.shuffle(free)
        for k, name in enumerate(free):
            side[name] = k < quota
    return ({l: sorted(n for n in set(ns) if not side[n]) for l, ns in by_language.items()},
            {l: sorted(n for n in set(ns) if side[n]) for l, ns in by_language.items()})


def write_names(target: Path, by_language: dict[str, list[str]], sources: dict[str, str]) -> Path:
    """``all/``, ``train/`` and ``test/`` folders of ``<Language>.txt`` files under ``target`` and ``names.json``
    (``sources``: package -> version); returns ``target``."""
    by_language = {l: sorted({c for c in map(clean, names) if c}) for l, names in sorted(by_language.items())}
    train, test = split_by_name(by_language)
    for part, lists in (("all", by_language), ("train", train), ("test", test)):
        (target / part).mkdir()
        for language, names in lists.items():
            (target / part / f"{language}.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
    owners: dict[str, int] = {}
    for names in by_language.values():
        for n in names:
            owners[n] = owners.get(n, 0) + 1
    manifest = {"sources": sources, "test_share": TEST_SHARE, "seed": SEED,
                "names": len(owners), "in_several_languages": sum(k > 1 for k in owners.values()),
                "languages": {l: {"all": len(by_language[l]), "train": len(train[l]), "test": len(test[l]),
                                  "faker": list(LANGUAGES.get(l, ((), ()))[0]),
                                  "mimesis": list(LANGUAGES.get(l, ((), ()))[1])} for l in by_language}}
    (target / "names.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target
