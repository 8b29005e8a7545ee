"""The bundled SmolLM2-135M-Instruct converts once and answers like an instruction-tuned LLM."""

import time

import pytest
from django.core.management import call_command

from pipeline import registry

pytestmark = pytest.mark.slow


def test_prepare_model_leaves_a_safetensors_checkpoint_under_the_artifact_root(artifact_root, capsys):
    call_command("prepare_model")
    out = capsys.readouterr().out
    checkpoint = artifact_root / "models" / "smollm2-135m-instruct"
    assert "ready (bundled)" in out and str(checkpoint) in out
    assert (checkpoint / "model.safetensors").is_file()
    assert (checkpoint / "tokenizer.json").is_file()
    assert "quantization_config" not in (checkpoint / "config.json").read_text()


def test_the_bundled_model_greedily_answers_a_simple_factual_question(bundled_lm):
    tokenizer, model = bundled_lm.tokenizer, bundled_lm.model
    batch = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    ).to(bundled_lm.device)
    output = model.generate(**batch, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(output[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


def test_a_converted_model_reloads_quickly(artifact_root, bundled_lm):
    start = time.perf_counter()
    loaded = registry.load_causal_lm(registry.DEFAULT_MODEL, artifact_root)
    seconds = time.perf_counter() - start
    assert loaded.device.type in ("cpu", "cuda")
    # Generous bound: the point is "no GGUF de-quantisation on every load" (that takes ~20 s).
    assert seconds < 10, seconds


def test_device_and_dtype_are_resolved_in_one_place():
    import torch

    device = registry.resolve_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert registry.resolve_dtype("exact", device) == torch.float32
    assert registry.resolve_dtype("fast", device) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown precision"):
        registry.resolve_dtype("turbo", device)


def test_a_spec_that_cannot_be_found_says_what_was_tried(artifact_root, tmp_path):
    with pytest.raises(registry.ModelNotFound) as caught:
        registry.resolve("no-such-org/no-such-model", artifact_root)
    message = str(caught.value)
    assert "bundled models" in message
    assert "local path" in message
    assert "not in the local Hugging Face cache" in message
    assert "hub download: disabled" in message

    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(registry.ModelNotFound, match="exists but has no config.json"):
        registry.resolve(str(tmp_path / "empty-dir"), artifact_root)


def test_a_local_checkpoint_directory_is_a_spec(artifact_root, bundled_lm):
    checkpoint = artifact_root / "models" / "smollm2-135m-instruct"
    resolved = registry.resolve(str(checkpoint), artifact_root)
    assert resolved.kind == "local"
    assert resolved.location == str(checkpoint.resolve())
