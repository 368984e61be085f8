"""rnnkit data fetch python-files: the .py files of the pinned wheels, labelled by package, split by file, read by
classify as a train/test folder."""
import json

from rnnkit.cli import main
from rnnkit.data.source_files import MIN_CHARS, SOURCE_PACKAGES
from rnnkit.data.text import labelled_split, read_labelled
from tests.data.test_fetch import fake_pip  # noqa: F401  (the fixture)


def package_wheel(label: str, top: str, n: int) -> dict:
    files = {f"{top}mod{k}.py": f"# {label} module {k}\n" + f"import {label}\n" * 20 + "x = 1\n" * k
             for k in range(n)}
    files[f"{top}__init__.py"] = ""                                 # shorter than MIN_CHARS: left out
    files[f"{top}data.csv"] = "a,b\n" * 100                        # not a .py file
    files[f"{top}copy.py"] = files[f"{top}mod0.py"]                 # an exact copy: kept once
    return files


def test_fetch_labels_each_file_by_its_package_and_splits_by_file(tmp_path, fake_pip, capsys):  # noqa: F811
    wheels, calls = fake_pip
    for label, (requirement, top) in SOURCE_PACKAGES.items():
        wheels[requirement] = package_wheel(label, top, 9)
    assert main(["data", "fetch", "python-files"]) == 0
    folder = tmp_path / "cache" / "python-files"
    assert capsys.readouterr().out.strip() == str(folder)
    assert [c[-1] for c in calls] == [r for r, _ in SOURCE_PACKAGES.values()]
    train, test = (read_labelled(p) for p in labelled_split(folder))
    assert len(train) == 6 * len(SOURCE_PACKAGES) and len(test) == 3 * len(SOURCE_PACKAGES)   # a third of 9
    assert not {t for t, _ in train} & {t for t, _ in test}
    for text, label in train + test:
        assert f"import {label}\n" in text and len(text.strip()) >= MIN_CHARS
    summary = json.loads((folder / "source_files.json").read_text())
    assert summary["test"] == {label: 3 for label in SOURCE_PACKAGES}


def test_a_wheel_without_python_files_is_one_line(tmp_path, fake_pip, capsys):  # noqa: F811
    wheels, _ = fake_pip
    for label, (requirement, top) in SOURCE_PACKAGES.items():
        wheels[requirement] = package_wheel(label, top, 3)
    requirement, top = SOURCE_PACKAGES["onnx"]
    wheels[requirement] = {f"{top}README.md": "no code"}
    assert main(["data", "fetch", "python-files"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("fetching ")]
    assert len(err) == 1 and f"expected .py files under {top}" in err[0]          # after the progress lines
    assert not (tmp_path / "cache" / "python-files").exists()                     # nothing half-written
