r"""What single hidden units of a character language model track: ``rnnkit inspect``.

Karpathy's post *The Unreasonable Effectiveness of Recurrent Neural Networks* (2015), in its section
"Visualizing the predictions and the 'neuron' firings in the RNN", colours a text by one hidden unit's
activation at every character and finds units that follow the text's structure: one that turns on inside
quotes, one that tracks the position in the line, one sensitive to the depth of an expression in Linux's C
source. The ML@B slides (*Bootcamp 3: Recurrent Neural Nets in Tensorflow*, "Background and Motivation") make the
same claim of source code: brackets close later and control words indent the next line, relations through time
that a model of the text has to carry in its state.

Here that is measured rather than looked for by eye. A text of ``N`` characters ``x_1 .. x_N`` is read left to
right with the state carried, and the top layer's activations ``a_t`` (H,) after reading ``x_t`` are recorded:
its output ``h_t``, or for an LSTM its memory cell ``c_t``. Each character also gets simple features ``f_t``
(:func:`text_features`): inside a quoted string, bracket depth, indentation, column, end of line next. For unit
``j`` and feature ``f``, Pearson's correlation over the characters is

.. math::
    r_{jf} = \frac{\sum_t (a_{tj} - \bar a_j)(f_t - \bar f)}
                  {\sqrt{\sum_t (a_{tj} - \bar a_j)^2} \sqrt{\sum_t (f_t - \bar f)^2}},

in [-1, 1]: +1 when the unit is an increasing affine function of the feature, -1 a decreasing one, near 0 when
the two are linearly unrelated (a unit may still follow the feature in a way that is not linear). Where either
is constant over the text, ``r`` is taken as 0 (no evidence either way). The units with the largest ``|r|`` per
feature are listed; the text is coloured by one unit, as in the post (blue negative, white 0, red positive).
"""
from __future__ import annotations

import html
import io
import warnings
from pathlib import Path

import torch
from torch import Tensor

from ..data.text import read_text
from ..errors import UserError
from ..runs import open_run
from ..runtime.checkpoint import atomic_file

__all__ = ["FEATURES", "text_features", "feature_matrix", "activations", "pearson", "top_units", "read_symbols",
           "write_html", "write_png", "inspect_run"]

FEATURES = ("quote", "depth", "indent", "column", "eol_next")
OPENING, CLOSING = "([{", ")]}"
STRING_PREFIXES = {"b", "r", "u", "f", "rb", "br", "fr", "rf"}            # Python's, before a quote


def text_features(text: str) -> dict[str, list[int]]:
    """Per-character features of ``text`` (N characters -> a list of N ints each), each describing the text
    as it stands once that character is read, the moment the model's state ``h_t`` describes:

    - ``quote``: 1 from an opening quote (``'``, ``"``, or a triple of either) up to the character before its
      closing quote. Inside a string a backslash escapes the next character; a one-line string also ends at
      the end of its line (so an unpaired quote in prose colours one line at most); a ``'`` between two
      letters or digits (``don't``, ``run's``) is an apostrophe, not a quote, unless the word before it is a
      string prefix (``b'..'``, ``f'..'``).
    - ``depth``: how many ``(``, ``[`` and ``{`` are open (an opening bracket counts itself, a closing one
      does not); brackets inside strings do not count, and a closing bracket with none open is ignored.
    - ``indent``: the leading spaces of the character's line (a newline belongs to the line it ends).
    - ``column``: the character's place in its line, from 0.
    - ``eol_next``: 1 when the next character is a newline.

    >>> f = text_features('f("a(")\\n  x[0]')
    >>> f["quote"]
    [0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    >>> f["depth"]
    [0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0]
    >>> f["indent"]
    [0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2]
    >>> f["column"]
    [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5]
    >>> f["eol_next"]
    [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    """
    N = len(text)
    quote, depth = [0] * N, [0] * N
    delimiter, escaped, level = None, False, 0          # the open string's quote ('"', "'''", ...), or None
    i = 0
    while i < N:
        ch = text[i]
        if delimiter is None:
            if ch in "'\"" and not (ch == "'" and _apostrophe(text, i)):
                delimiter = ch * 3 if text.startswith(ch * 3, i) else ch
                for k in range(i, min(i + len(delimiter), N)):  # the opening quote is inside
                    quote[k], depth[k] = 1, level
                i += len(delimiter)
                continue
            if ch in OPENING:
                level += 1
            elif ch in CLOSING and level:
                level -= 1
        elif escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif text.startswith(delimiter, i):            # the closing quote is outside
            width, delimiter = len(delimiter), None
            for k in range(i, i + width):
                depth[k] = level
            i += width
            continue
        elif ch == "\n" and len(delimiter) == 1:
            delimiter = None
        quote[i] = int(delimiter is not None)
        depth[i] = level
        i += 1
    indent, column, eol_next = [0] * N, [0] * N, [0] * N
    start = 0
    for line in text.split("\n"):                       # each line and its newline, if any
        spaces = len(line) - len(line.lstrip(" "))
        for k in range(min(len(line) + 1, N - start)):
            indent[start + k], column[start + k] = spaces, k
        start += len(line) + 1
    for t in range(N - 1):
        eol_next[t] = int(text[t + 1] == "\n")
    return {"quote": quote, "depth": depth, "indent": indent, "column": column, "eol_next": eol_next}


def _apostrophe(text: str, i: int) -> bool:
    """Whether the ``'`` at ``text[i]`` joins two words (``don't``) rather than opening a string; a string
    prefix before it (``b'``, ``rb'``, ``f'``) makes it a quote."""
    if not (0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()):
        return False
    start = i
    while start and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return text[start:i].lower() not in STRING_PREFIXES


def feature_matrix(features: dict[str, list[int]]) -> Tensor:
    """The features as one (N, F) float64 matrix, columns in ``FEATURES`` order."""
    return torch.tensor([features[name] for name in FEATURES], dtype=torch.float64).T


def pearson(a: Tensor, f: Tensor) -> Tensor:
    """Pearson's r (H, F) between every column of ``a`` (N, H) and every column of ``f`` (N, F), over the N
    rows, in float64; a pair where either column is constant has r 0.

    >>> depth = torch.tensor([[0.], [1.], [2.], [1.]])
    >>> pearson(torch.cat([2 * depth + 1, -depth, torch.ones(4, 1)], 1), depth).flatten().round(decimals=6).tolist()
    [1.0, -1.0, 0.0]
    """
    a, f = a.double(), f.double()
    da, df = a - a.mean(0), f - f.mean(0)                                        # (N, H), (N, F)
    r = (da.T @ df) / (da.norm(dim=0)[:, None] * df.norm(dim=0)[None, :])        # (H, F)
    # exactly constant, not merely of small variance: the mean of equal values may round off them
    varies = (a.amax(0) > a.amin(0))[:, None] & (f.amax(0) > f.amin(0))[None, :]
    return torch.where(varies, r.clamp(-1, 1), torch.zeros_like(r))


def top_units(r: Tensor, k: int = 3) -> dict[str, list[tuple[int, float]]]:
    """For each feature (a column of ``r`` (H, F), in ``FEATURES`` order), its ``k`` units of largest |r|, as
    (unit, r), the largest first."""
    out = {}
    for j, name in enumerate(FEATURES):
        order = torch.argsort(r[:, j].abs(), descending=True, stable=True)[:k]
        out[name] = [(int(u), float(r[u, j])) for u in order]
    return out


def read_symbols(task, path: Path, chars: int) -> tuple[list[str], list[int]]:
    """The first ``chars`` symbols of the text file at ``path`` as the run reads them: (the characters, one per
    symbol, for the features and the pictures; their ids in the run's vocabulary). A byte-level run reads bytes:
    each is shown as its ASCII character, or ``·`` past ASCII (the features only look at ASCII). A symbol
    outside the run's vocabulary is one error naming it, as ``rnnkit eval --data`` reports it."""
    if chars < 1:
        raise UserError(f"expected --chars of at least 1; received {chars}")
    text, _ = read_text(path, task.meta["level"])           # missing, empty, a folder, not UTF-8: one line each
    text = text[:chars]
    if len(text) < 2:
        raise UserError(f"expected at least 2 {task.unit}s in {path} to correlate over; it holds {len(text)}")
    ids = task.vocab.encode(text)
    shown = [chr(b) if b < 128 else "\u00b7" for b in text] if isinstance(text, bytes) else list(text)
    return shown, ids


def _memory_cell(state) -> Tensor | None:
    """An LSTM state's memory cell ``c``, through wrappers whose state keeps the cell's under ``.cell``."""
    while state is not None:
        if getattr(state, "c", None) is not None:
            return state.c
        state = getattr(state, "cell", None)
    return None


@torch.no_grad()
def activations(model, ids, *, state: str = "h", chunk: int = 512) -> Tensor:
    """The top recurrent layer's activations (N, H) after each of the N token ``ids``, read left to right as
    one sequence: ``chunk`` tokens at a time, the state carried from one chunk to the next, so a text of any
    length costs memory for one chunk. ``state`` "h": the runner's output at each step (what the head reads);
    "c": the top layer's LSTM memory cell, its cell stepped one token at a time (the runner returns only the
    last state). Float32, on the CPU."""
    if state not in ("h", "c"):
        raise ValueError(f"state must be 'h' or 'c'; received {state!r}")
    runner = model.runner
    x = torch.as_tensor(ids, dtype=torch.long, device=model.device).view(1, -1)    # (1, N)
    carry = model.initial_state(1, device=model.device)                           # one state per layer
    rows = []
    for a in range(0, x.shape[1], chunk):
        h = model.features(x[:, a:a + chunk])                                     # (1, T, E)
        if state == "h":
            y, carry = runner(h, None, carry)                                     # (1, T, H)
            rows.append(y[0])
            continue
        layers, carry = runner.layers, list(carry)
        for k, layer in enumerate(layers[:-1]):                                   # eval: no dropout between
            h, carry[k] = layer(h, None, carry[k])
        cell, s = layers[-1].cell, carry[-1]
        for h_t in h.unbind(1):                                                   # (1, D) each
            _, s = cell(h_t, s)
            rows.append(_memory_cell(s))                                          # (1, H)
        carry[-1] = s
        carry = tuple(carry)
    return torch.cat(rows).float().cpu()


# ------------------------------------------------------------------------------------------------ pictures


def _colour(v: float) -> tuple[float, float, float]:
    """RGB in [0, 1] of a value in [-1, 1]: blue for negative, white at 0, red for positive, linearly, the ends
    no darker than a mid shade so that black text on them stays readable.

    >>> [tuple(round(c, 6) for c in _colour(v)) for v in (0.0, 1.0, -1.0)]
    [(1.0, 1.0, 1.0), (1.0, 0.3, 0.3), (0.3, 0.5, 1.0)]
    """
    v = max(-1.0, min(1.0, v))
    return (1.0, 1 - 0.7 * v, 1 - 0.7 * v) if v >= 0 else (1 + 0.7 * v, 1 + 0.5 * v, 1.0)


def _scaled(values: Tensor) -> tuple[list[float], float]:
    """The values (N,) over their largest magnitude, in [-1, 1], and that magnitude."""
    top = float(values.abs().max())
    return (values / top if top > 0 else values).tolist(), top


def _table_rows(table: dict[str, list[tuple[int, float]]], constant: set[str]) -> dict[str, str]:
    return {name: "constant over this text" if name in constant else
            "  ".join(f"{u}:{r:+.2f}" for u, r in table[name]) for name in FEATURES}


def write_html(path: Path, symbols: list[str], values: Tensor, *, unit: int, title: str,
               table: dict[str, list[tuple[int, float]]], constant: set[str] = frozenset()) -> None:
    """A page of the text, each character's background coloured by ``values`` (N,) (one unit's activation at each
    character; its value shows on hover), and the correlation ``table`` (feature -> the top units' (unit, r))."""
    scaled, top = _scaled(values)
    spans = []
    for ch, v, raw in zip(symbols, scaled, values.tolist()):
        r, g, b = (round(255 * c) for c in _colour(v))
        glyph = "\u21b5\n" if ch == "\n" else html.escape(ch)                      # a newline's box is shown too
        spans.append(f'<span style="background:#{r:02x}{g:02x}{b:02x}" title="{raw:+.3f}">{glyph}</span>')
    rows = "".join(f"<tr><td>{name}</td><td>{html.escape(text)}</td></tr>"
                   for name, text in _table_rows(table, constant).items())
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 10px;text-align:left}} td+td{{font-family:monospace}}
pre{{font-family:monospace;line-height:1.3;border:1px solid #ddd;padding:0.5em}}</style></head>
<body><h2>{html.escape(title)}</h2>
<p>Units whose activation correlates most with each feature of the text (Pearson r over the characters;
unit:r, the largest |r| first).</p>
<table><tr><th>feature</th><th>top units</th></tr>{rows}</table>
<p>The text coloured by unit {unit}: its activation after reading each character, blue negative, white 0,
red positive, scaled by its largest magnitude over the text ({top:.3g}). Hover a character for its value.</p>
<pre>{"".join(spans)}</pre>
</body></html>
"""
    data = page.encode("utf-8")
    with atomic_file(path, size=len(data)) as f:
        f.write(data)


def write_png(path: Path, symbols: list[str], values: Tensor, *, title: str, lines: int = 30,
              columns: int = 100, max_bytes: int = 150_000) -> None:
    """The first ``lines`` lines of the text (each cut at ``columns`` characters), one box per character coloured
    by ``values`` (N,) as in :func:`write_html`, drawn with matplotlib in a monospace font; the colours in 21
    steps and the resolution lowered where needed to keep the file within ``max_bytes``."""
    from matplotlib.figure import Figure

    scaled, _ = _scaled(values)
    grid = [[]]                                                      # lines of (character, scaled value)
    for ch, v in zip(symbols, scaled):
        grid[-1].append((ch, v))
        if ch == "\n":
            if len(grid) == lines:
                break
            grid.append([])
    grid = [row[:columns] for row in grid if row]
    width = max(len(row) for row in grid)
    image = torch.ones(len(grid), width, 3)                           # (L, C, RGB), white past a line's end
    for i, row in enumerate(grid):
        for j, (_, v) in enumerate(row):
            image[i, j] = torch.tensor(_colour(round(v * 10) / 10))       # 21 shades: a PNG compresses them
    fig = Figure(figsize=(0.075 * width + 0.3, 0.16 * len(grid) + 0.45))
    ax = fig.add_axes((0.01, 0.01, 0.98, 1 - 0.3 / (0.16 * len(grid) + 0.45)))
    ax.imshow(image.numpy(), aspect="auto", interpolation="nearest", extent=(-0.5, width - 0.5, len(grid) - 0.5, -0.5))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")  # a character the font lacks: a box
        for i, row in enumerate(grid):
            for j, (ch, _) in enumerate(row):
                if not ch.isspace():
                    ax.text(j, i, ch, ha="center", va="center", family="monospace", fontsize=7, parse_math=False)
        ax.set_axis_off()
        ax.set_title(title, fontsize=8, loc="left")
        # a dense text under a restless unit compresses badly: fewer pixels until the file is small
        for dpi in (100, 85, 70, 55):
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi)
            if buf.tell() <= max_bytes:
                break
    data = buf.getvalue()
    with atomic_file(path, size=len(data)) as f:
        f.write(data)


# ------------------------------------------------------------------------------------------------ the command


def inspect_run(run_dir: Path, text_path: Path, *, chars: int = 5000, unit: int | None = None, state: str = "h",
                out: Path | None = None) -> tuple[list[str], tuple[Path, Path]]:
    """``rnnkit inspect``: read the first ``chars`` symbols of ``text_path`` through the charlm run in ``run_dir``,
    correlate every unit of its top layer (``state`` "h" or "c") with the text's features, and write
    ``inspect.html`` and ``inspect.png`` into ``out`` (default the run folder), coloured by ``unit`` (default:
    the unit of largest |r| with any feature). Returns the lines to print and the two paths written."""
    task, model = open_run(Path(run_dir), expect="charlm")
    folder = Path(run_dir) if out is None else Path(out)
    if not folder.is_dir():
        raise UserError(f"expected --out an existing folder; received {out}")
    top_state = model.runner.layers[-1].cell.initial_state(1)
    if state == "c" and _memory_cell(top_state) is None:
        raise UserError(f"expected an LSTM run for --state c (its memory cell); {run_dir} is a "
                        f"{task.model_cfg.cell} run: use --state h")
    size = model.runner.output_size if state == "h" else _memory_cell(top_state).shape[-1]
    if unit is not None and not 0 <= unit < size:
        raise UserError(f"expected --unit in 0 .. {size - 1} (the top layer has {size} units); received {unit}")
    symbols, ids = read_symbols(task, Path(text_path), chars)
    a = activations(model, ids, state=state)                                       # (N, H)
    f = feature_matrix(text_features("".join(symbols)))                             # (N, F)
    r = pearson(a, f)                                                               # (H, F)
    table = top_units(r)
    constant = {name for j, name in enumerate(FEATURES) if bool(f[:, j].amax() == f[:, j].amin())}
    strongest = int(r.abs().max(dim=1).values.argmax())
    if unit is None:
        unit = strongest
    what = "output h" if state == "h" else "memory cell c"
    title = f"{Path(run_dir).name}: unit {unit} of the top layer's {what}, over {len(ids)} {task.unit}s of " \
            f"{Path(text_path).name}"
    written = (folder / "inspect.html", folder / "inspect.png")
    write_html(written[0], symbols, a[:, unit], unit=unit, title=title, table=table, constant=constant)
    write_png(written[1], symbols, a[:, unit], title=title)
    feature, best = max(((name, r[strongest, j]) for j, name in enumerate(FEATURES)), key=lambda p: abs(float(p[1])))
    lines = [f"{len(ids)} {task.unit}s of {text_path}, the top layer's {what} ({size} units); the units whose "
             f"activation correlates most with each feature (unit:r, Pearson r over the {task.unit}s):"]
    lines += [f"  {name:9s} {row}" for name, row in _table_rows(table, constant).items()]
    lines.append(f"colouring unit {unit}" + (f" (largest |r|: {float(best):+.2f} with {feature})"
                                             if unit == strongest and float(best) else ""))
    return lines, written
