"""Image captioning with an attention LSTM on canvases of real handwritten digits: exact-match accuracy and
word error rate on the test canvases, for the slides' attention LSTM, Show-Attend-Tell's soft attention and
no attention, the same time budget each.

The data is not a photo-caption set (none ships in a registry package): ``rnnkit data fetch digits`` puts
2-5 real handwritten digits (scikit-learn's copy of the UCI digits) left to right on a canvas, captioned with
their words ("seven two nine"); test canvases use digit images no training canvas uses. Every model is
trained with the command a user types:

    rnnkit train caption --data $(rnnkit data fetch digits) --max-steps 1000000 --max-time B --attention A

and the attention maps of the selected weights are copied next to this script.

    python benchmarks/results/caption.py --budget 240
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import HERE, parser, write  # noqa: E402

from rnnkit.data.fetch import fetch  # noqa: E402

KINDS = ("slides", "soft", "none")


def train(data: Path, kind: str, budget: float, figures: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "rnnkit", "train", "caption", "--data", str(data), "--run", str(run),
               "--max-steps", "1000000", "--max-time", str(budget), "--attention", kind]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
        test = json.loads((run / "test_metrics.json").read_text())
        if figures is not None and (run / "attention.png").exists():
            shutil.copy(run / "attention.png", figures / f"caption_attention_{kind}.png")
        last = proc.stdout.strip().splitlines()
        return {"attention": kind, "command": f"rnnkit train caption --data DIGITS --max-steps 1000000 "
                                              f"--max-time {budget:g} --attention {kind}",
                "exact_match": test["exact_match"], "word_error_rate": test["token_error_rate"],
                "final_validation": next((l for l in last if l.startswith("final validation")), "")}


def main() -> None:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=240.0, help="training seconds per model")
    p.add_argument("--kinds", default=",".join(KINDS), help="the attention forms to train, comma-separated")
    args = p.parse_args()
    started = time.perf_counter()
    data = fetch("digits")
    figures: Path | None = HERE
    if args.smoke:
        small = Path(tempfile.mkdtemp())
        for part, n in (("train", 60), ("test", 20)):
            lines = (data / f"{part}.tsv").read_text().splitlines()[:n]
            (small / f"{part}.tsv").write_text("\n".join(f"{data}/{line}" for line in lines) + "\n")
        data, args.budget, figures = small, 2.0, None
    rows = []
    for kind in args.kinds.split(","):
        rows.append(train(data, kind, args.budget, figures))
        print(rows[-1], flush=True)
    write("caption", args, {"budget_s": args.budget, "data": "canvases of real handwritten digits (scikit-learn)",
                            "rows": rows}, started)


if __name__ == "__main__":
    main()
