"""Inside ``linears_on_onednn`` a training pass's linear layers run on oneDNN (forward, input
and weight gradients): a LoRA policy's RL log-probs are the plain float32 pass's within 1e-4,
and its adapters' gradients are as close to a float64 pass's as the plain float32 ones (on
the bundled model and real HH prompts, they measured ~1e-5 relative against 4-8e-5); a trainable
layer gets the same weight and bias gradients; other dtypes and code outside the block stay on
``F.linear``."""

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F

from pipeline import registry
from pipeline.configs import LoraSettings
from pipeline.lora import add_lora
from pipeline.onednn_linear import ROUTED, linears_on_onednn
from pipeline.rl.loop import response_logprobs
from pipeline.tokens import pad_left
from tests.inference.hh_prompts import hh_prompts

pytestmark = pytest.mark.skipif(not ROUTED, reason="oneDNN's linear kernel is not in this torch build")


def grad_fn_name(y):
    return type(y.grad_fn).__name__


def test_a_linear_layer_in_the_block_runs_on_onednn_with_the_plain_gradients():
    torch.manual_seed(0)
    layer = torch.nn.Linear(24, 10)
    x = torch.randn(3, 5, 24, requires_grad=True)
    upstream = torch.randn(3, 5, 10)

    plain = layer(x)
    plain.backward(upstream)
    expected = [t.grad.clone() for t in (x, layer.weight, layer.bias)]
    for t in (x, layer.weight, layer.bias):
        t.grad = None

    with linears_on_onednn():
        routed = layer(x)
    assert grad_fn_name(routed) == "_LinearBackward" and grad_fn_name(plain) != "_LinearBackward"
    assert torch.allclose(routed, plain, atol=1e-5)
    routed.backward(upstream)  # outside the block: the backward recorded inside still runs on oneDNN
    for got, want in zip((x.grad, layer.weight.grad, layer.bias.grad), expected):
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-4)


def test_frozen_weights_and_keyword_calls_are_routed_and_get_no_gradient():
    torch.manual_seed(1)
    weight = torch.randn(6, 8)  # frozen: no requires_grad
    x = torch.randn(4, 8, requires_grad=True)
    with linears_on_onednn():
        y = F.linear(input=x, weight=weight)
    assert grad_fn_name(y) == "_LinearBackward"
    y.sum().backward()
    assert torch.allclose(x.grad, weight.sum(0).expand(4, 8), atol=1e-5) and weight.grad is None


def test_other_dtypes_and_code_outside_the_block_stay_on_f_linear():
    layer = torch.nn.Linear(8, 4).to(torch.bfloat16)
    with linears_on_onednn():
        y = layer(torch.randn(2, 8, dtype=torch.bfloat16, requires_grad=True))
    assert grad_fn_name(y) != "_LinearBackward"
    y = torch.nn.Linear(8, 4)(torch.randn(2, 8, requires_grad=True))
    assert grad_fn_name(y) != "_LinearBackward"


@pytest.mark.slow
def test_a_lora_policys_rl_logprobs_and_adapter_gradients_match_the_plain_pass(artifact_root, hh_path):
    loaded = registry.load_causal_lm(registry.DEFAULT_MODEL, artifact_root)
    tokenizer = loaded.tokenizer
    policy = add_lora(loaded.model, LoraSettings(r=8, alpha=16), causal_lm=True).eval()
    torch.manual_seed(2)
    with torch.no_grad():  # adapters away from their zero start, so A's gradients are not all zero
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.01)
    prompts = hh_prompts(hh_path, tokenizer, 2)
    ids, mask = pad_left(prompts, tokenizer.pad_token_id, torch.device("cpu"))
    tokens = torch.randint(100, 20000, (4, 12), generator=torch.Generator().manual_seed(3))
    token_mask = torch.ones_like(tokens)
    token_mask[1, 9:] = 0  # one row ended early
    advantage = torch.tensor([1.0, -0.5, 0.25, -2.0])

    def pass_(model, routed):
        adapters = [p for p in model.parameters() if p.requires_grad]
        for p in adapters:
            p.grad = None
        with linears_on_onednn() if routed else contextlib.nullcontext():
            logp = response_logprobs(model, ids, mask, tokens, token_mask, repeats=2)
        (-(advantage.to(logp.dtype) * (logp * token_mask).sum(-1)).mean()).backward()
        return logp.detach().double(), [p.grad.double() for p in adapters]

    exact_logp, exact_grads = pass_(copy.deepcopy(policy).double(), False)  # the float64 truth
    plain_logp, plain_grads = pass_(policy, False)
    logp, grads = pass_(policy, True)
    assert torch.allclose(logp, plain_logp, atol=1e-4), (logp - plain_logp).abs().max()
    assert all(g.abs().sum() > 0 for g in exact_grads)
    # as close to the float64 gradients as the plain float32 pass is: float32 rounding, in another order
    for got, plain, exact in zip(grads, plain_grads, exact_grads):
        assert torch.linalg.norm(got - exact) <= 3 * torch.linalg.norm(plain - exact) + 1e-6 * torch.linalg.norm(exact)


def test_a_block_for_a_model_off_the_cpu_changes_nothing():
    layer = torch.nn.Linear(8, 4)
    with linears_on_onednn("meta"):  # any device but the CPU: no hook at all
        y = layer(torch.randn(2, 8, requires_grad=True))
    assert grad_fn_name(y) != "_LinearBackward"
