"""``coin web``: options, the 127.0.0.1 default, and refusals before any server starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from coin_core.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def test_binds_to_this_machine_only_unless_told_otherwise():
    args = build_parser().parse_args(["web"])
    assert (args.host, args.port, args.volume, args.model, args.data_root) == (
        "127.0.0.1",
        8080,
        None,
        None,
        None,
    )
    args = build_parser().parse_args(["web", "--host", "0.0.0.0", "--port", "9000", "--data-root", "/d"])
    assert (args.host, args.port, args.data_root) == ("0.0.0.0", 9000, "/d")


def test_a_volume_outside_the_data_root_is_refused_with_both_paths(tmp_path, capsys):
    root, elsewhere = tmp_path / "root", tmp_path / "ct.nii.gz"
    root.mkdir()
    elsewhere.write_bytes(b"x")
    assert main(["web", "--data-root", str(root), "--volume", str(elsewhere)]) != 0
    err = capsys.readouterr().err
    assert "outside the data root" in err and str(root) in err and "ct.nii.gz" in err


def test_a_missing_data_root_is_refused(tmp_path, capsys):
    assert main(["web", "--data-root", str(tmp_path / "nope")]) != 0
    assert "nope" in capsys.readouterr().err


def test_help_lists_the_options_without_importing_the_web_stack():
    code = "from coin_core.cli.main import main; main(['web', '--help'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    for option in ("--volume", "--model", "--port", "--host", "--data-root"):
        assert option in out.stdout
    check = "import sys; from coin_core.cli.main import build_parser as b; b(); print('trame' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert loaded.stdout.strip() == "False"
