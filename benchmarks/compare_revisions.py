"""Core against core: the same scenario timed on several git revisions, interleaved (issue 11).

Each revision's core runs in its own subprocess on a checkout of it
(``run.BaselineCore``), one single-replicate run per repeat, the revisions in
turn within each repeat, so load on a shared machine hits them alike.  A
ratio of these times is the ratio of the revisions' core/Mesa ratios that
``run.py --baseline`` measures (the Mesa run cancels), at a fraction of the
cost; ``run.py`` remains the measurement against Mesa.

    python benchmarks/compare_revisions.py f254931 628e87d HEAD --workers 50000 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import BaselineCore  # noqa: E402


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("revisions", nargs="+", help="git revisions; the first is the reference")
    ap.add_argument("--workers", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=None, help="days from 2016-01-01 (default: all)")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    cores = [BaselineCore(rev, args.workers, args.days) for rev in args.revisions]
    walls: dict[str, list[float]] = {rev: [] for rev in args.revisions}
    try:
        for repeat in range(args.repeats):
            for rev, core in zip(args.revisions, cores, strict=True):
                walls[rev].append(core.run(seed=repeat + 1)[0])
    finally:
        for core in cores:
            core.close()
    medians = {rev: statistics.median(w) for rev, w in walls.items()}
    first = args.revisions[0]
    horizon = f"{args.days} days from 2016-01-01" if args.days else "the whole scenario"
    print(f"baseline-2016, {horizon}, {args.workers:,} workers, {args.repeats} repeats (medians)")
    for rev, core in zip(args.revisions, cores, strict=True):
        print(
            f"  {rev:>10} ({core.revision}): {medians[rev]:.4f} s, "
            f"{medians[first] / medians[rev]:.3f} of {first}'s speed"
        )
    return {rev: medians[first] / medians[rev] for rev in args.revisions}


if __name__ == "__main__":
    main()
