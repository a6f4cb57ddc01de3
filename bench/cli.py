"""``python -m bench [--quick] [--only SECTION,...] [--server-root PATH]``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from bench.databases import BenchDatabases
from bench.report import table
from bench.sections import KEYS, REDIS_URL_DEFAULT, SECTIONS, Context
from bench.sizes import FULL, QUICK, Sizes
from tests.conftest import ROOT

RESULTS = Path(__file__).with_name("results")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes; writes quick.json")
    parser.add_argument("--only", default="", help=f"comma-separated of: {', '.join(SECTIONS)}")
    parser.add_argument(
        "--server-root",
        type=Path,
        default=Path(os.environ.get("BENCH_SERVER_ROOT") or ROOT),
        help="run the servers from this checkout (env BENCH_SERVER_ROOT; default this repo)",
    )
    parser.add_argument("--queue-waiting", type=int, help="patients to fill the queue with")
    parser.add_argument("--connections", type=int, help="patient sockets to hold open")
    parser.add_argument("--output", type=Path, help="the JSON file to write")
    return parser.parse_args(argv)


def chosen_sections(only: str) -> list[str]:
    names = [name.strip() for name in only.split(",") if name.strip()] or list(SECTIONS)
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown sections {unknown}; choose from {list(SECTIONS)}")
    return names


def sizes_of(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else FULL
    if args.queue_waiting:
        sizes = replace(sizes, queue_waiting=args.queue_waiting)
    if args.connections:
        sizes = replace(sizes, connections=args.connections)
    return sizes


def git_commit(root: Path) -> str:
    def git(*words: str) -> str:
        done = subprocess.run(["git", *words], cwd=root, capture_output=True, text=True, timeout=30)
        return done.stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "core", "plugins") else "")


def header(server_root: Path, quick: bool) -> dict[str, Any]:
    return {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(server_root),
        "machine": {"cpus": os.cpu_count()},
        "server_root": str(server_root),
        "quick": quick,
    }


def run_section(name: str, ctx: Context) -> Any:
    print(f"== {name}", flush=True)
    began = time.monotonic()
    try:
        figures = SECTIONS[name](ctx)
    except Exception as exc:
        traceback.print_exc()
        figures = f"failed: {type(exc).__name__}: {str(exc)[:500]}"
    print(f"   ({time.monotonic() - began:.0f}s)", flush=True)
    return figures


def write(path: Path, results: dict[str, Any], merge: bool) -> None:
    """Write the results; a run of some sections keeps the other sections of the file."""
    if merge and path.exists():
        results = {**json.loads(path.read_text()), **results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    signal.raise_signal(signal.SIGINT)  # as Ctrl-C: asyncio cancels its tasks, finally stops


def stop_cleanly_on_signals() -> None:
    """Ctrl-C and SIGTERM end the run through every ``finally`` (servers stopped), also
    when started in the background by a shell that ignores SIGINT for its children."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)


def staff_needed(sizes: Sizes) -> int:
    return max(sizes.dashboards, sizes.mode_dashboards, sizes.multi_dashboards, 1)


def context_for(args: argparse.Namespace, workdir: Path) -> Context:
    sizes = sizes_of(args)
    server_root = args.server_root.resolve()
    return Context(
        sizes=sizes,
        server_root=server_root,
        workdir=workdir,
        databases=BenchDatabases(workdir / "databases", server_root, staff_needed(sizes)),
        redis_url=os.environ.get("BACKOFFICE_TEST_REDIS_URL") or REDIS_URL_DEFAULT,
    )


def run_sections(names: list[str], ctx: Context, results: dict[str, Any]) -> None:
    began = time.monotonic()
    try:
        for name in names:
            results[KEYS[name]] = run_section(name, ctx)
    finally:
        ctx.databases.drop_all()
    results["bench_seconds"] = round(time.monotonic() - began)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = chosen_sections(args.only)
    output = args.output or RESULTS / ("quick.json" if args.quick else "latest.json")
    stop_cleanly_on_signals()
    workdir = Path(tempfile.mkdtemp(prefix="backoffice-bench-"))
    ctx = context_for(args, workdir)
    results = header(ctx.server_root, args.quick)
    try:
        run_sections(names, ctx, results)
    except KeyboardInterrupt:
        shutil.rmtree(workdir, ignore_errors=True)
        print("\ninterrupted: every server is stopped; nothing was written", file=sys.stderr)
        return 130
    write(output, results, merge=bool(args.only))
    print()
    print(table(results, [KEYS[name] for name in names]))
    print(f"\nwritten to {output} in {results['bench_seconds']}s")
    failed = [name for name in names if str(results[KEYS[name]]).startswith("failed")]
    if failed:
        print(f"failed sections: {failed}; server logs are in {workdir}")
        return 1
    shutil.rmtree(workdir, ignore_errors=True)
    return 0
