"""The log-probabilities the RL loss uses (``response_logprobs``: float32, with gradients, each
prompt run once for its samples, linear layers on oneDNN as ``Learner.logprobs`` runs it) of
rollouts decoded on the engine match a plain forward of each whole prompt + response within
1e-4; generation moved, the loss path did not."""

import pytest
import torch

from pipeline.generation import decode_prompts
from pipeline.onednn_linear import linears_on_onednn
from pipeline.rl.loop import response_logprobs
from tests.inference.hh_prompts import hh_prompts

pytestmark = pytest.mark.slow


def test_loss_logprobs_match_a_plain_forward(bundled_lm, hh_path):
    model, tokenizer = bundled_lm.model, bundled_lm.tokenizer
    prompts = hh_prompts(hh_path, tokenizer, 2)
    roll = decode_prompts(model, tokenizer, prompts, max_new_tokens=16, temperature=1.0, seeds=[5, 6, 7, 8], repeats=2)
    distinct, distinct_mask = roll.prompt_ids[::2], roll.prompt_mask[::2]

    with linears_on_onednn():
        logp = response_logprobs(model, distinct, distinct_mask, roll.tokens, roll.mask, repeats=2)
    assert logp.requires_grad and logp.dtype == torch.float32 and logp.shape == roll.tokens.shape

    for row in range(roll.tokens.shape[0]):
        prompt, n = prompts[row // 2], int(roll.mask[row].sum())
        response = roll.tokens[row, :n].tolist()
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prompt + response]), use_cache=False).logits[0].float()
        plain = torch.log_softmax(logits[len(prompt) - 1 : -1], dim=-1)[torch.arange(n), torch.tensor(response)]
        assert torch.allclose(logp[row, :n].detach(), plain, atol=1e-4), (row, (logp[row, :n].detach() - plain).abs().max())
