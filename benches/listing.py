"""resolve_inputs on a Common-Crawl-sized input: 100,000 `.warc.gz` paths, as a folder and as a list of files.

Compares the code in the working tree with git's HEAD version of lmpipe/core/listing.py (or any revision, --rev),
loaded from `git show` into a temporary module. The files are empty: only listing is timed, never reading.

    .venv/bin/python benches/listing.py                 # 100,000 files: 100 segments x 1,000 WARCs
    .venv/bin/python benches/listing.py --files 20000   # smaller
    .venv/bin/python benches/listing.py --skip-old      # only the current code
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lmpipe.core import listing as current  # noqa: E402
from lmpipe.core.records import InputError  # noqa: E402


def load_revision(rev: str, tmp: Path):
    """lmpipe/core/listing.py as it is at git revision rev, imported as a module of its own."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:lmpipe/core/listing.py"], capture_output=True, text=True, check=True
    ).stdout
    path = tmp / f"listing_{rev.replace('/', '_').replace('~', '_')}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"listing_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_tree(root: Path, n_files: int, per_segment: int) -> list[Path]:
    """Common Crawl's layout: segments/<segment>/warc/<file>.warc.gz, plus a _logs side folder to skip."""
    paths = []
    for i in range(n_files):
        seg, k = divmod(i, per_segment)
        folder = root / "segments" / f"1700000000000.{seg:03d}" / "warc"
        if k == 0:
            folder.mkdir(parents=True)
        p = folder / f"CC-MAIN-20260101000000-20260101010000-{i:06d}.warc.gz"
        p.write_bytes(b"")
        paths.append(p)
    (root / "_logs").mkdir()
    (root / "_logs" / "skipped.warc.gz").write_bytes(b"")
    return paths


def timed(fn, *args, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            result = fn(*args)
        except InputError as e:
            result = e
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--per-segment", type=int, default=1_000)
    ap.add_argument("--rev", default="HEAD", help="git revision of the old listing.py (default HEAD)")
    ap.add_argument("--skip-old", action="store_true", help="time only the working tree's code")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the current code; the best is shown")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="lmpipe-bench-listing-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "cc"
        start = time.perf_counter()
        paths = make_tree(root, args.files, args.per_segment)
        print(f"created {len(paths):,} empty files under {root} in {time.perf_counter() - start:.1f} s")
        as_list = [str(p) for p in paths]
        versions = [("current", current)]
        if not args.skip_old:
            versions.insert(0, (args.rev, load_revision(args.rev, tmp)))

        rows = []
        for case, arg in (("folder", [root]), ("list of files", as_list)):
            row = {"case": case}
            for name, module in versions:
                repeat = args.repeat if module is current else 1
                seconds, result = timed(module.resolve_inputs, arg, repeat=repeat)
                if isinstance(result, Exception):
                    raise SystemExit(f"{name} failed on {case}: {result}")
                assert len(result) == len(paths), (name, case, len(result))
                row[name] = seconds
                print(f"  {case:14s} {name:8s} {seconds:9.3f} s  ({len(result):,} files)", flush=True)
            rows.append(row)
        # The duplicate check on the refusal path: every file named twice.
        seconds, result = timed(current.resolve_inputs, [root, root], repeat=args.repeat)
        assert isinstance(result, InputError), result

    print()
    names = [name for name, _ in versions]
    print(
        f"| input ({args.files:,} .warc.gz) | "
        + " | ".join(f"{n} (s)" for n in names)
        + (" | speed-up |" if len(names) > 1 else " |")
    )
    print("|---" * (len(names) + 1 + (len(names) > 1)) + "|")
    for row in rows:
        cells = " | ".join(f"{row[n]:.3f}" for n in names)
        speedup = f" | {row[names[0]] / row['current']:.0f}x |" if len(names) > 1 else " |"
        print(f"| {row['case']} | {cells}{speedup}")
    print(f"\ncurrent, folder named twice (refused as duplicates, {2 * args.files:,} entries): {seconds:.3f} s")


if __name__ == "__main__":
    main()
