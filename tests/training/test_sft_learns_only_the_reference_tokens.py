"""SFT fits the reference outputs, scoring only response tokens, with LoRA or full fine-tuning."""

import pytest
import torch

from pipeline import registry
from pipeline.configs import SFTConfig
from pipeline.sft import SFTExample, response_nll, sft_policy_for, train_sft
from pipeline.tokens import encode_prompt, encode_response, format_prompt

EXAMPLES = [SFTExample(f"Summarise: story number {i} about a cat.", f"A cat story, number {i}.") for i in range(8)]


def test_the_loss_ignores_the_prompt_tokens(tiny_model_dir, artifact_root):
    loaded = registry.load_causal_lm(str(tiny_model_dir), artifact_root)
    tok = loaded.tokenizer
    response = encode_response(tok, "the same reply")
    short = encode_prompt(tok, format_prompt(tok, "a"))
    with torch.no_grad():
        loss = response_nll(loaded.model, [(short, response)], tok.pad_token_id, loaded.device)
        ids = torch.tensor([short + response])
        logp = torch.log_softmax(loaded.model(ids).logits[0, :-1], -1)
        by_hand = -logp[len(short) - 1 :, :].gather(-1, ids[0, len(short) :, None]).mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)


@pytest.mark.parametrize("lora", [True, False])
def test_sft_lowers_the_reference_loss_and_exports_a_policy(lora, tiny_model_dir, artifact_root, tmp_path):
    config = SFTConfig(model=str(tiny_model_dir), lora=lora, lr=3e-3, epochs=6, batch_size=4,
                       checkpoint_every=0)
    losses = []
    result = train_sft(config, EXAMPLES, tmp_path / "sft", artifact_root=artifact_root,
                       on_metrics=lambda s, m: losses.append(m["loss/train"]))
    assert result.steps == 12 and losses[-1] < losses[0] - 0.5  # from ln(vocab) ≈ 10.8 on a random model
    assert sft_policy_for("base", result) == str(result.model_path)
    assert sft_policy_for("smollm2-135m-instruct", None) == "smollm2-135m-instruct"  # no references: the base is SFT
    registry.load_causal_lm(str(result.model_path), artifact_root)
