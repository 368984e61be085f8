"""The companion pages (docs/alberts-notes.md, mlb-slides.md, simple-rnns-post.md, theano-notebook.md,
rnn1-notes.md) stay true: every command they show still runs, each page cites its source text by title, and
every figure or file they link exists.

How a page's blocks are run (``test_page_blocks_run``, one test per page; the blocks of a page run in order in
one temporary folder, so ``rnnkit generate runs/lm`` finds the run that ``rnnkit train ... --run runs/lm`` wrote):

- A fenced block with the info string ``bash companion`` holds commands, one a line (``\\`` continues a line;
  ``#`` starts a comment). A comment ``# smoke: skip (REASON)``, on its own line or after a command, skips the
  command it precedes or ends (none does now; the runner lists what it skipped).
- ``$(rnnkit data fetch NAME)`` becomes a small copy of the cached dataset in the same layout (the first
  60 KB of the plays, every 100th tweet, every 40th name, the first 40 sentences of each treebank file, ...:
  ``smoke_data``). A dataset not in the rnnkit cache is not downloaded: its commands are skipped and listed.
- ``rnnkit ...`` runs in this process through ``rnnkit.cli.main`` (no interpreter start-up per command), in the
  temporary folder: ``runs/...`` and the PNGs a command writes land there; a path of the repository
  (``rnnkit/cli.py``, ``benchmarks/results/reber.py``) is made absolute.
- Every ``rnnkit train TASK`` gets ``SMOKE_TRAIN + SMOKE_TASK[TASK]`` appended: two steps, a validation at
  step 2, batches of 4, 8 units a layer, no TensorBoard, and the task's own sizes shrunk (validation sets,
  embeddings, decode lengths; the memory task's lag becomes 20, since ``rnnkit diagnose`` steps through every
  step of the lag). argparse keeps the last value of a flag, so these replace the page's sizes: the page's
  4 x 512 sorting network over 256 symbols runs here as 4 x 8, with its first 12 outputs decoded.
  ``rnnkit generate`` gets ``--length 20`` and ``rnnkit diagnose`` ``--sequences 4``.
- ``python benchmarks/results/SCRIPT.py ...`` runs in this process (runpy) with ``--smoke --out TMP`` appended
  (its JSON goes to the temporary folder, not next to the script).
- A fenced block with the info string ``python companion`` is executed as written, in a fresh namespace, in
  the temporary folder: the page's code is meant to run quickly as shown.
- Anything else in a companion block (another program) fails the test: the pages show rnnkit, Python and
  the results scripts only.

Every command must exit 0; a page's failures are collected and reported together, each with its error. The
whole file takes about 80 s on the 2-core development machine with OMP_NUM_THREADS=1 and other jobs running
(the slowest item, ``python benchmarks/results/reber.py --setup seed003`` in its --smoke mode, about 13 s).
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import runpy
import shlex
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# page -> the citation of its source text (docs/sources.md), which every section must carry
PAGES = {
    "alberts-notes.md": "*Recurrent Neural Networks*",
    "mlb-slides.md": "*Bootcamp 3: Recurrent Neural Nets in Tensorflow*",
    "simple-rnns-post.md": "*An introduction to recurrent neural networks: Simple RNNs*",
    "theano-notebook.md": "*Recurrent Neural Networks*, the Theano notebook",
    "rnn1-notes.md": "*Week ??: Recurrent Neural Networks 1*",
}
OPENINGS = {   # the first lines of each page name the text in full (title and author or kind)
    "alberts-notes.md": "Jean-Martin Albert, *Recurrent Neural Networks*",
    "mlb-slides.md": "Machine Learning at Berkeley, *Bootcamp 3: Recurrent Neural Nets in Tensorflow*",
    "simple-rnns-post.md": "*An introduction to recurrent neural networks: Simple RNNs*",
    "theano-notebook.md": "*Recurrent Neural Networks* (a Theano notebook",
    "rnn1-notes.md": "Alex, *Week ??: Recurrent Neural Networks 1*",
}

SMOKE_TRAIN = ["--max-steps", "2", "--eval-every", "2", "--batch-size", "4", "--hidden-size", "8", "--no-tensorboard"]
SMOKE_TASK = {
    "charlm": ["--seq-len", "16", "--eval-chars", "200", "--embed-size", "8"],
    "classify": ["--embed-size", "8"],
    "regress": ["--embed-size", "8"],
    "seq2seq": ["--valid-size", "8", "--embed-size", "8", "--max-decode-len", "12"],
    "caption": ["--channels", "4", "--embed-size", "8", "--max-decode-len", "8"],
    "reber": ["--valid-strings", "20", "--samples", "5"],
    "memory": ["--valid-size", "8", "--lag", "20"],   # diagnose steps a run's every lag: 1,000 EUNN steps take 20 s
    "tag": ["--embed-size", "8", "--affix-size", "4"],
    "forecast": [],
    "binary-add": ["--valid-size", "20"],
}
SMOKE_OTHER = {"generate": ["--length", "20"], "diagnose": ["--sequences", "4"]}

BLOCK = re.compile(r"^```(bash|python) companion[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
ANY_BLOCK = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
FETCH = re.compile(r"\$\(rnnkit data fetch ([A-Za-z0-9_-]+)\)")
SKIP = re.compile(r"#\s*smoke:\s*skip\s*\(([^)]*)\)")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


class Skip(Exception):
    """A command the runner does not run, with the reason."""


# ----------------------------------------------------------------------------------------------- the pages

def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def blocks(text: str) -> list[tuple[str, str]]:
    """(kind, body) of each companion block, in page order."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def commands(body: str) -> list[tuple[str, str | None]]:
    """The commands of a bash block: (command line, skip reason or None)."""
    out, pending, line = [], None, ""
    for raw in body.splitlines():
        if raw.rstrip().endswith("\\"):
            line += raw.rstrip()[:-1] + " "
            continue
        line += raw
        stripped, line = line.strip(), ""
        if not stripped:
            continue
        skip = SKIP.search(stripped)
        if stripped.startswith("#"):
            pending = skip.group(1) if skip else pending
            continue
        out.append((stripped, skip.group(1) if skip else pending))
        pending = None
    return out


def sections(text: str) -> list[str]:
    return re.split(r"^## ", text, flags=re.M)[1:]


# -------------------------------------------------------------------------------------- smoke-sized data

def smoke_data(name: str, real: Path, out: Path) -> Path:
    """A small copy of a cached dataset in the layout ``rnnkit data fetch NAME`` gives."""
    out.mkdir(parents=True, exist_ok=True)
    if name == "shakespeare":
        path = out / real.name
        path.write_bytes(real.read_bytes()[:60_000])
        return path
    if name == "tweets":                         # quoted fields hold newlines: cut by rows, not lines
        with real.open(encoding="utf-8", errors="replace", newline="") as f:
            rows = list(csv.reader(f))
        path = out / real.name
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([rows[0]] + rows[1::100])   # the file is sorted by label: every class stays
        return path
    if name == "names":
        for split, every in (("train", 40), ("test", 20)):
            (out / split).mkdir(exist_ok=True)
            for f in sorted((real / split).glob("*.txt")):
                names = f.read_text(encoding="utf-8").splitlines()
                (out / split / f.name).write_text("\n".join(names[::every]) + "\n", encoding="utf-8")
        return out
    if name == "ud-hebrew":
        for f in sorted(real.glob("*.conllu")):
            sentences = f.read_text(encoding="utf-8").split("\n\n")
            (out / f.name).write_text("\n\n".join(sentences[:40]).strip() + "\n\n", encoding="utf-8")
        return out
    if name == "cmudict":
        for split, every in (("train.tsv", 500), ("test.tsv", 200)):
            lines = (real / split).read_text(encoding="utf-8").splitlines()
            (out / split).write_text("\n".join(lines[::every]) + "\n", encoding="utf-8")
        return out
    if name == "digits":
        for split, n in (("train.tsv", 80), ("test.tsv", 20)):
            lines = (real / split).read_text(encoding="utf-8").splitlines()
            (out / split).write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
        (out / "images").symlink_to(real / "images", target_is_directory=True)
        return out
    if name == "sunspots":                       # 309 rows: small already
        return real
    raise Skip(f"no smoke-sized copy of dataset {name!r} is defined in tests/end_to_end/test_companion.py")


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """NAME -> path of its smoke-sized copy, made on first use from the rnnkit cache (nothing is downloaded)."""
    from rnnkit.data.fetch import DATASETS, fetch, is_cached
    made: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("companion-data")

    def get(name: str) -> Path:
        if name not in made:
            if name not in DATASETS:
                raise Skip(f"rnnkit data fetch {name}: no such dataset")
            if not is_cached(name):
                raise Skip(f"dataset {name!r} is not in the rnnkit cache (run `rnnkit data fetch {name}` once)")
            made[name] = smoke_data(name, fetch(name), root / name)
        return made[name]
    return get


# ------------------------------------------------------------------------------------------------ the runner

def localise(tokens: list[str]) -> list[str]:
    """Paths of the repository made absolute; ``runs/...`` and output files stay relative (the temporary folder)."""
    out = []
    for t in tokens:
        if not t.startswith(("-", "runs/")) and "/" in t and (ROOT / t).exists():
            t = str(ROOT / t)
        out.append(t)
    return out


def run_rnnkit(argv: list[str]) -> None:
    from rnnkit.cli import main
    if argv[:1] == ["train"] and len(argv) > 1:
        task = argv[1]
        if task not in SMOKE_TASK:
            raise AssertionError(f"no smoke sizes for task {task!r}: add it to SMOKE_TASK")
        if "--run" not in argv and "--run-dir" not in argv:
            argv = argv + ["--run", f"runs/{task}-smoke"]
        argv = argv + SMOKE_TRAIN + SMOKE_TASK[task]
    elif argv[:1] and argv[0] in SMOKE_OTHER:
        argv = argv + SMOKE_OTHER[argv[0]]
    try:
        rc = main(argv)
    except SystemExit as e:                      # argparse errors
        rc = e.code
    if rc not in (0, None):
        raise AssertionError(f"exit status {rc}")


def run_script(script: str, args: list[str], out: Path) -> None:
    path = Path(script) if Path(script).is_absolute() else ROOT / script
    if path.parent != ROOT / "benchmarks" / "results" or not path.exists():
        raise AssertionError(f"expected a script of benchmarks/results/; received {script}")
    argv, sys_path = sys.argv, list(sys.path)
    sys.argv = [str(path), *args, "--smoke", "--out", str(out / f"{path.stem}.smoke.json")]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:
        if e.code not in (0, None):
            raise AssertionError(f"exit status {e.code}") from None
    finally:
        sys.argv, sys.path[:] = argv, sys_path


def run_command(line: str, datasets, folder: Path) -> None:
    def fetched(m: re.Match) -> str:
        return str(datasets(m.group(1)))
    tokens = localise(shlex.split(FETCH.sub(fetched, line), comments=True))
    if tokens[:1] == ["rnnkit"]:
        run_rnnkit(tokens[1:])
    elif tokens[:1] in (["python"], ["python3"]) and len(tokens) > 1 and tokens[1].endswith(".py"):
        run_script(tokens[1], tokens[2:], folder)
    else:
        raise AssertionError("a companion block may hold rnnkit commands and benchmarks/results scripts only")


def run_python(code: str, name: str) -> None:
    exec(compile(code, name, "exec"), {"__name__": "__companion__"})


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_blocks_run(page, datasets, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    found = blocks(read(page))
    assert found, f"{page} has no companion block"
    failures, skipped, times = [], [], []
    untrained: dict[str, str] = {}         # run folder -> why the command that makes it was skipped
    for n, (kind, body) in enumerate(found, 1):
        items = [(body, None)] if kind == "python" else commands(body)
        for item, reason in items:
            label = f"{page} block {n} ({kind}): {item.strip().splitlines()[0][:140]}"
            needs = [r for r in untrained if re.search(rf"(?<![\w/.-]){re.escape(r)}(?![\w.-])", item)]
            if reason is None and needs:       # a command on a run that was never made: skipped with it
                reason = f"{needs[0]} was not made ({untrained[needs[0]]})"
            if reason is not None:
                skipped.append(f"{label}: {reason}")
                made = re.search(r"--run\s+(runs/\S+)", item)
                if made:
                    untrained[made.group(1)] = reason
                continue
            started = time.perf_counter()
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    if kind == "python":
                        run_python(item, f"<{page} block {n}>")
                    else:
                        run_command(item, datasets, tmp_path)
            except Skip as e:
                skipped.append(f"{label}: {e}")
                made = re.search(r"--run\s+(runs/\S+)", item)
                if made:
                    untrained[made.group(1)] = str(e)
            except BaseException as e:           # noqa: BLE001 - report every failure of the page together
                if isinstance(e, KeyboardInterrupt):
                    raise
                err = capsys.readouterr().err.strip().splitlines()
                failures.append(f"{label}\n    {type(e).__name__}: {e}" + (f"\n    stderr: {err[-1]}" if err else ""))
            times.append((time.perf_counter() - started, label))
    report = "\n".join(f"{t:6.1f} s  {label}" for t, label in sorted(times, reverse=True)[:5])
    print(f"\n{page}: {len(times)} run in {sum(t for t, _ in times):.1f} s; slowest:\n{report}")
    for s in skipped:
        print(f"skipped: {s}")
    assert not failures, f"{len(failures)} of {len(times)} companion items of {page} failed:\n" + "\n".join(failures)


# ------------------------------------------------------------------------------------------- the page texts

@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_cites_its_text_in_every_section(page):
    text = read(page)
    flat = " ".join                                  # a citation may wrap across lines
    assert OPENINGS[page] in flat(text[:600].split()), f"{page} should open by naming its text: {OPENINGS[page]}"
    missing = [s.splitlines()[0] for s in sections(text) if PAGES[page] not in flat(s.split())]
    assert not missing, f"sections of {page} that do not cite {PAGES[page]}: {missing}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_links_and_figures_exist(page):
    text = read(page)
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (DOCS / target.split("#")[0]).resolve()
        assert path.exists(), f"{page} links to {target}, which does not exist"
        if target.lower().endswith(".png"):
            assert path.parent == DOCS / "figures", f"{page}: figures come from docs/figures/; received {target}"
            assert path.stat().st_size < 150_000, f"{target} is {path.stat().st_size} bytes; keep figures < 150 KB"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_command_on_the_page_is_run(page):
    """A block that shows an rnnkit command but is not marked companion would escape the runner."""
    for info, body in ANY_BLOCK.findall(read(page)):
        if info.strip() in ("bash companion", "python companion"):
            continue
        assert not re.search(r"^\s*(rnnkit |python benchmarks/)", body, re.M), \
            f"{page}: a ```{info} block shows a command without `companion`:\n{body}"


def test_commands_parse_continuations_comments_and_skips():
    body = ("# smoke: skip (downloads 500 MB)\nrnnkit train classify --data X\n"
            "rnnkit train charlm \\\n  --data Y   # a comment\nrnnkit eval runs/a  # smoke: skip (slow)\n")
    assert commands(body) == [("rnnkit train classify --data X", "downloads 500 MB"),
                              ("rnnkit train charlm    --data Y   # a comment", None),
                              ("rnnkit eval runs/a  # smoke: skip (slow)", "slow")]


def test_sources_lists_the_companion_pages():
    text = read("sources.md")
    for page in PAGES:
        assert f"]({page})" in text, f"docs/sources.md should link {page}"
