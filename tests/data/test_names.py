"""`rnnkit data fetch names`: surnames by language from Faker's person providers (Python source, read with ast:
never imported or run) and Mimesis's person.json files, laid out as the PyTorch names tutorial reads them, with a
test split held out by name. No network: tiny fake wheels stand in for what ``pip download`` brings."""
import json

import pytest

import rnnkit.data.fetch as fetch
from rnnkit.cli import main
from rnnkit.data import names
from rnnkit.data.text import read_labelled
from rnnkit.errors import UserError
from tests.data.test_fetch import fake_pip  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

FAKER, MIMESIS = fetch.NAME_PACKAGES["faker"], fetch.NAME_PACKAGES["mimesis"]
POLISH = [f"Nowak{k}" for k in range(25)]


def faker_source(marker):
    """A provider whose module, if it were run, would write ``marker`` and stop the interpreter."""
    return f'''from collections import OrderedDict
from typing import Tuple
open({str(marker)!r}, "w").write("ran")
raise SystemExit("imported")


class Provider:
    first_names = ("Jan", "Anna")
    unisex_last_names: Tuple[str, ...] = {tuple(POLISH[:20])!r}
    male_last_names: Tuple[str, ...] = ("Kowalski", "Mu\\u0308ller", "  Kowal  ")
    last_names = unisex_last_names + male_last_names

    def last_name(self):
        return "Executed"
'''


JAPANESE = '''from collections import OrderedDict


class Provider:
    last_name_pairs = OrderedDict(((("佐藤", "サトウ", "Sato"), 366803.0), (("鈴木", "スズキ", "Suzuki"), 321135)))
    last_names = tuple(map(itemgetter(0), last_name_pairs))
    last_romanized_names = ("Sato", "Suzuki")
'''


def wheels_for(marker, *, irish=True):
    faker = {"faker/providers/person/pl_PL/__init__.py": faker_source(marker),
             "faker/providers/person/ja_JP/__init__.py": JAPANESE}
    if irish:
        faker["faker/providers/person/ga_IE/__init__.py"] = 'class Provider:\n    last_names = ("Ó Briain", "Kowal")\n'
    mimesis = {"mimesis/datasets/pl/person.json": json.dumps({"surnames": {"male": POLISH[15:] + ["Kowalski"],
                                                                           "female": ["Kowalska"]}}),
               "mimesis/datasets/ja/person.json": json.dumps({"surnames": ["高橋", "佐藤"], "names": ["x"]})}
    return {FAKER: faker, MIMESIS: mimesis}


LANGUAGES = {"Irish": (("ga_IE",), ()), "Japanese": (("ja_JP",), ("ja",)), "Polish": (("pl_PL",), ("pl",))}


def lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_fetch_writes_the_tutorial_layout_and_a_split_by_name(tmp_path, monkeypatch, fake_pip, capsys):  # noqa: F811
    wheels, calls = fake_pip
    wheels.update(wheels_for(tmp_path / "ran"))
    monkeypatch.setattr(names, "LANGUAGES", LANGUAGES)
    assert main(["data", "fetch", "names"]) == 0
    root = tmp_path / "cache" / "names"
    assert capsys.readouterr().out.strip() == str(root) and [c[-1] for c in calls] == [FAKER, MIMESIS]
    assert not (tmp_path / "ran").exists()                                   # the provider's source never ran
    every = {l: lines(root / "all" / f"{l}.txt") for l in LANGUAGES}
    polish = sorted(POLISH + ["Kowal", "Kowalska", "Kowalski", "Müller"])     # both packages, once each, cleaned
    assert every == {"Irish": ["Kowal", "Ó Briain"], "Japanese": ["佐藤", "鈴木", "高橋"], "Polish": polish}
    held_out = set()
    for language, all_names in every.items():
        train, test = lines(root / "train" / f"{language}.txt"), lines(root / "test" / f"{language}.txt")
        assert sorted(train + test) == all_names and not set(train) & set(test)
        held_out |= set(test)
    assert len(lines(root / "test" / "Polish.txt")) == round(0.1 * len(polish))
    for language in LANGUAGES:                                                # no test name is a training name
        assert not held_out & set(lines(root / "train" / f"{language}.txt"))
    manifest = json.loads((root / "names.json").read_text(encoding="utf-8"))
    assert manifest["sources"] == {"faker": "1.0", "mimesis": "1.0"} and manifest["in_several_languages"] == 1
    assert manifest["languages"]["Polish"] == {"all": 29, "train": 26, "test": 3, "faker": ["pl_PL"], "mimesis": ["pl"]}
    pairs = read_labelled(root / "train")                                     # classify reads it as it is
    assert {label for _, label in pairs} == set(LANGUAGES) and len(pairs) == sum(m["train"] for m in
                                                                                manifest["languages"].values())


def test_the_split_is_the_same_every_time(tmp_path, monkeypatch, fake_pip):  # noqa: F811
    wheels, _ = fake_pip
    wheels.update(wheels_for(tmp_path / "ran"))
    monkeypatch.setattr(names, "LANGUAGES", LANGUAGES)
    first = {p.relative_to(fetch.fetch("names")): p.read_bytes() for p in fetch.fetch("names").rglob("*.txt")}
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "again"))
    second = {p.relative_to(fetch.fetch("names")): p.read_bytes() for p in fetch.fetch("names").rglob("*.txt")}
    assert first == second and len(first) == 9


def test_a_missing_locale_is_one_error_line_and_leaves_no_folder(tmp_path, monkeypatch, fake_pip, capsys):  # noqa: F811
    wheels, _ = fake_pip
    wheels.update(wheels_for(tmp_path / "ran", irish=False))
    monkeypatch.setattr(names, "LANGUAGES", LANGUAGES)
    capsys.readouterr()
    assert main(["data", "fetch", "names"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"rnnkit: error: expected faker/providers/person/ga_IE/__init__.py in "
                       f"{FAKER.replace('-', '_')}-1.0-py3-none-any.whl; not found")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize("source", ["class Provider:\n    last_names = (\n", "def f(:\n"])
def test_faker_source_that_is_not_python_is_one_error_line(source):
    with pytest.raises(UserError, match=r"^expected Python source in pl_PL; line \d+: "):
        names.faker_surnames(source, "pl_PL")


def test_every_language_of_the_table_has_its_locales_in_both_packages_order():
    """Each entry names Faker locales (underscore) then Mimesis locales (hyphen or bare), as SOURCES orders them."""
    assert list(names.SOURCES) == ["faker", "mimesis"] and len(names.LANGUAGES) >= 10
    for language, (faker_locales, mimesis_locales) in names.LANGUAGES.items():
        assert faker_locales or mimesis_locales, language
        assert all("_" in l for l in faker_locales) and not any("_" in l for l in mimesis_locales), language
