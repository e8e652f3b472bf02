"""Regenerate ``tests/golden/golden.json`` after an intended model change.

    .venv/bin/python -m tests.golden.regenerate

Prints which cases and outcomes changed, then rewrites the file.  Commit
the new file together with the model change and say in the commit message
why the results moved.
"""

from __future__ import annotations

import json

from . import CASES, GOLDEN_FILE, case_key, compute


def main() -> None:
    old = json.loads(GOLDEN_FILE.read_text()) if GOLDEN_FILE.exists() else {}
    new = {}
    for scenario, seed, replicates in CASES:
        key = case_key(scenario, seed, replicates)
        new[key] = compute(scenario, seed, replicates)
        before = old.get(key, {}).get("outcomes", {})
        moved = [name for name, h in new[key]["outcomes"].items() if before.get(name) != h]
        parts = [
            part for part in ("events", "ledger") if old.get(key, {}).get(part) != new[key][part]
        ]
        print(f"{key}: {len(moved)} outcomes changed{', ' + ', '.join(parts) if parts else ''}")
    GOLDEN_FILE.write_text(json.dumps(new, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN_FILE}")


if __name__ == "__main__":
    main()
