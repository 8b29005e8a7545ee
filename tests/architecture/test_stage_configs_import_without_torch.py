"""The stage configs are plain dataclasses: the web side builds and checks them (a ``--set``
override's field names included) without paying for torch, so ``pipeline.configs`` must never
pull it in, not even through ``pipeline/__init__``."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_stage_configs_does_not_import_torch():
    # pipeline.plan and the curve's settings checks too: the run form checks with them
    check = ("import sys, pipeline.configs, pipeline.plan, pipeline.curve_settings; "
             "assert 'torch' not in sys.modules, 'pipeline.configs imported torch'")
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_config_refuses_unknown_fields_by_name():
    from pipeline import configs

    for cls in (configs.LabelingConfig, configs.RewardConfig, configs.SFTConfig, configs.RLConfig,
                configs.DPOConfig, configs.GenerationConfig):
        assert cls.from_dict(cls().to_dict()) == cls()
        try:
            cls.from_dict({"lora_rank": 8})
        except ValueError as error:
            assert "lora_rank" in str(error)
        else:
            raise AssertionError(f"{cls.__name__} accepted an unknown field")
