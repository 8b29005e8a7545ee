"""The training pipeline is plain Python: importing it loads no Django (the web side calls it, not vice versa)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_every_training_module_loads_no_django():
    code = (
        "import sys; sys.path.insert(0, '.');"
        "import pipeline.reward, pipeline.rl, pipeline.rl.trl_algorithms, pipeline.sft, pipeline.dpo,"
        " pipeline.generation, pipeline.arms, pipeline.plan, pipeline.configs, pipeline.tokens, pipeline.lora,"
        " pipeline.checkpoints, pipeline.runfiles, pipeline.steps;"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith(('django.', 'webapp')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={"PATH": ""})
    assert done.returncode == 0, done.stdout + done.stderr
