"""The labeling config is saved with a run as JSON and read back unchanged; bad values are refused."""

import json

import pytest

from pipeline.configs import LabelingConfig


def test_a_config_survives_a_json_round_trip():
    config = LabelingConfig(task="summarization", preamble="detailed", shots=2, cot=True, self_consistency=4,
                            temperature=0.7, swap=False, precision="fast", batch_size=3, max_context_tokens=None, calibrate=True)
    assert LabelingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_every_field_is_in_the_saved_dict():
    assert set(LabelingConfig().to_dict()) == {
        "task", "preamble", "shots", "cot", "self_consistency", "temperature", "swap", "precision",
        "batch_size", "max_rationale_tokens", "seed", "max_context_tokens", "exemplar_set", "calibrate",
    }


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"task": "poetry"}, "task must be"),
        ({"preamble": "short"}, "preamble must be"),
        ({"precision": "half"}, "precision must be"),
        ({"shots": -1}, "shots must be"),
        ({"self_consistency": 2}, "needs cot=True"),
        ({"self_consistency": 2, "cot": True, "temperature": 0.0}, "needs temperature > 0"),
        ({"batch_size": 0}, "batch_size must be"),
    ],
)
def test_invalid_settings_are_refused_with_a_reason(changes, message):
    with pytest.raises(ValueError, match=message):
        LabelingConfig(**changes)


def test_unknown_keys_in_a_saved_config_are_an_error():
    with pytest.raises(ValueError, match="unknown LabelingConfig fields: shot"):
        LabelingConfig.from_dict({"shot": 1})


def test_the_old_precision_name_fast_is_read_and_stored_as_bf16_mlp():
    config = LabelingConfig.from_dict({"precision": "fast"})
    assert config.precision == "bf16-mlp" and config.to_dict()["precision"] == "bf16-mlp"
    assert config == LabelingConfig(precision="bf16-mlp") == LabelingConfig().replace(precision="fast")
