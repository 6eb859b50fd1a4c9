"""Run every benchmark and write ``BENCHMARKS.md``: ``python -m bench [--quick] [--only NAME ...]``
(``bash bench/run`` prepares the machine first, as ``scripts/test`` does).

All targets are on loopback; every loop is bounded. ``--quick`` runs tiny sizes (the smoke test).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import api, e2e, fastagi, webhooks
from bench.common import ROOT, machine, postgres
from bench.report import write

SECTIONS = {"fastagi": fastagi.run, "webhooks": webhooks.run, "e2e": e2e.run, "api": api.run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="run only these")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw figures")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        default=None,
        help="only rewrite --out from earlier --json files (later files' sections win)",
    )
    args = parser.parse_args(argv)
    if args.render:
        merged: dict[str, Any] = {}
        for path in args.render:
            run = json.loads(path.read_text())
            sections = {**merged.get("sections", {}), **run["sections"]}
            if merged:
                run["command"] = merged["command"] + "; " + run["command"]
                run["total_seconds"] = round(merged["total_seconds"] + run["total_seconds"], 1)
            merged = {**run, "sections": sections}
        write(merged, args.out)
        return 0
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    started = time.time()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "sections": {}}
    command = "bash bench/run" + (" --quick" if args.quick else "")
    if args.only:
        command += " --only " + " ".join(args.only)
    results["command"] = command
    with postgres() as url:
        for name, run in SECTIONS.items():
            if args.only and name not in args.only:
                continue
            print(f"bench: {name} ...", flush=True)
            t0 = time.time()
            load = os.getloadavg()[0]
            try:
                figures = run(url, args.quick)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                traceback.print_exc()
                figures = {"error": f"{type(exc).__name__}: {exc}"}
            figures["_seconds"] = round(time.time() - t0, 1)
            figures["_load_before"] = round(load, 2)
            results["sections"][name] = figures
            print(f"bench: {name} done in {figures['_seconds']} s", flush=True)
    results["total_seconds"] = round(time.time() - started, 1)
    results["machine"]["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write(results, args.out)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    print(f"bench: wrote {args.out} in {results['total_seconds']} s")
    errors = [n for n, f in results["sections"].items() if "error" in f]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
