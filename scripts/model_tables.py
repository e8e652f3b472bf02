"""Write the generated tables of docs/model.md (levers, declared uncertainties) from the code.

    .venv/bin/python scripts/model_tables.py          # rewrite the blocks in docs/model.md
    .venv/bin/python scripts/model_tables.py --check  # exit 1 if they are out of date

The blocks sit between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->`` markers;
``tests/test_docs.py`` runs the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lipsteeth.core.outcomes import EFFECTIVE_LEVERS
from lipsteeth.core.params import PARAM_GROUPS, Levers, field_specs
from lipsteeth.scenario import load_scenario

DOC = Path(__file__).resolve().parents[1] / "docs" / "model.md"


def _num(value: float) -> str:
    return f"{value:g}"


def levers_table() -> str:
    """Every lever: meaning, unit, range (the core's bounds), baseline-2016 value, mechanism."""
    baseline = load_scenario("baseline-2016")
    lines = [
        "| lever | meaning | unit | range | baseline-2016 | mechanism | in force as |",
        "|---|---|---|---|---:|---|---|",
    ]
    for name, spec in field_specs(Levers).items():
        effective = EFFECTIVE_LEVERS.get(name, "")
        lines.append(
            f"| `{name}` | {spec['doc']} | {spec['unit']} | {_num(spec['lo'])} to "
            f"{_num(spec['hi'])} | {_num(getattr(baseline.levers, name))} | {spec['mech']} | "
            f"{f'`{effective}`' if effective else ''} |"
        )
    return "\n".join(lines)


def uncertainties_table() -> str:
    """Every declared uncertainty of baseline-2016: value, range, mechanism, meaning."""
    baseline = load_scenario("baseline-2016")
    specs = {
        f"{g}.{n}": spec for g, cls in PARAM_GROUPS.items() for n, spec in field_specs(cls).items()
    }
    lines = [
        "| parameter | meaning | unit | value | range | mechanism |",
        "|---|---|---|---:|---|---|",
    ]
    for key, (low, high) in sorted(baseline.uncertainties.items()):
        spec = specs[key]
        value = baseline.provenance[key].value
        lines.append(
            f"| `{key}` | {spec['doc']} | {spec['unit']} | {_num(value)} | "
            f"{_num(low)} to {_num(high)} | {spec['mech']} |"
        )
    return "\n".join(lines)


BLOCKS = {"levers": levers_table, "uncertainties": uncertainties_table}


def rendered(text: str) -> str:
    for name, make in BLOCKS.items():
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + begin + make() + "\n" + end + tail
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = DOC.read_text()
    new = rendered(text)
    if args.check:
        if new != text:
            print(f"{DOC} is out of date: run scripts/model_tables.py", file=sys.stderr)
            sys.exit(1)
        return
    DOC.write_text(new)


if __name__ == "__main__":
    main()
