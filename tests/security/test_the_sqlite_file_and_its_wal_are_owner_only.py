"""The embedded database holds login sessions and API tokens: the SQLite file and the -wal and
-shm files beside it are readable by their owner only, whatever the process umask, and an
older world-readable file is tightened at start-up."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Write through Django while the connection is open (the WAL files exist only then) and print
# the mode of each file.
WRITE_AND_STAT = """
import os, stat, django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS probe (x integer)")
    cursor.execute("INSERT INTO probe VALUES (1)")
name = connection.settings_dict["NAME"]
for path in (name, name + "-wal", name + "-shm"):
    print(path.rsplit("/", 1)[-1], oct(stat.S_IMODE(os.stat(path).st_mode)))
"""


def modes(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="webapp.settings")
    done = subprocess.run([sys.executable, "-c", f"import os; os.umask(0o022)\n{WRITE_AND_STAT}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    return dict(line.split() for line in done.stdout.splitlines() if line.startswith("lab.sqlite3"))


def test_a_new_database_and_its_wal_files_are_owner_only(tmp_path):
    assert modes(tmp_path) == {"lab.sqlite3": "0o600", "lab.sqlite3-wal": "0o600", "lab.sqlite3-shm": "0o600"}


def test_a_world_readable_database_of_an_older_lab_is_tightened(tmp_path):
    old = tmp_path / "lab.sqlite3"
    old.touch()
    old.chmod(0o644)
    assert modes(tmp_path)["lab.sqlite3"] == "0o600"
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
