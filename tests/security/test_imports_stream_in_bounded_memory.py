"""Importing holds the parsed pairs, never the file: the real 1,600-pair HH file and a 10 KB
gzip of blank lines (about 10 MB of data) are imported in a fresh process whose peak memory is
measured (tests/security/import_memory_probe.py). Run with -s to see the figures."""

import gzip
import json
import subprocess
import sys

from tests.security.production import ROOT


def import_in_a_fresh_process(path, fmt, tmp_path) -> dict:
    environment = {"DJANGO_SETTINGS_MODULE": "webapp.settings", "VAR_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.security.import_memory_probe", str(path), fmt],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["added_mib"] = figures["peak_mib"] - figures["baseline_mib"]
    print(f"\n{path.name}: baseline {figures['baseline_mib']:.0f} MiB, peak {figures['peak_mib']:.0f} MiB "
          f"(+{figures['added_mib']:.1f} MiB; Python allocations peak {figures['python_peak_mib']:.1f} MiB), "
          f"{figures['seconds']:.2f} s: {figures.get('refused') or figures['imported']}")
    return figures


def test_the_real_hh_file_imports_within_a_hundred_mib_of_the_baseline(hh_path, tmp_path):
    figures = import_in_a_fresh_process(hh_path, "hh", tmp_path)
    assert figures["imported"] == 1600
    assert figures["added_mib"] < 100


def test_a_10_kb_gzip_of_blank_lines_is_refused_at_once_in_little_memory(tmp_path):
    bomb = tmp_path / "blank.jsonl.gz"
    bomb.write_bytes(gzip.compress(b"\n" * 10_000_000, compresslevel=9))
    assert bomb.stat().st_size < 12_000
    figures = import_in_a_fresh_process(bomb, "hh", tmp_path)
    assert figures["refused"].endswith("the file is empty")
    assert figures["seconds"] < 2
    assert figures["added_mib"] < 100
