"""Do two run directories hold the same records? For each trial id in both, compare every metric except the
timings (names ending in ``_s``), and print how many are identical and which differ.

    python reports/same_records.py RUN_A RUN_B
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def records(run: Path) -> dict[str, dict]:
    out = {}
    for line in (run / "trials.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out[r["trial_id"]] = {k: v for k, v in r.get("metrics", {}).items() if not k.endswith("_s")}
    return out


def main(a: str, b: str) -> int:
    ra, rb = records(Path(a)), records(Path(b))
    both = sorted(set(ra) & set(rb))
    differ = [t for t in both if ra[t] != rb[t]]
    print(f"{a}: {len(ra)} trials; {b}: {len(rb)} trials; {len(both)} in both")
    print(f"identical (all metrics but timings): {len(both) - len(differ)} of {len(both)}")
    for t in differ:
        keys = sorted(k for k in set(ra[t]) | set(rb[t]) if ra[t].get(k) != rb[t].get(k))
        print(f"  differs: {t}: " + ", ".join(f"{k} {ra[t].get(k)} / {rb[t].get(k)}" for k in keys))
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
