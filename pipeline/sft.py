"""Supervised fine-tuning on reference outputs: the SFT policy that RL and DPO start from.

    result = train_sft(SFTConfig(model="smollm2-135m-instruct"), examples, out_dir, artifact_root=...)
    result.model_path   # a plain transformers checkpoint (LoRA merged)

The loss is the mean negative log-likelihood of the *reference* tokens only (and the EOS that
ends them): the prompt is context, not something to imitate.

When the experiment has no reference outputs (the dialogue tasks: HH pairs have preferences but
no gold reply), the caller skips this stage and uses the instruction-tuned base model itself as
the SFT policy: pass its spec (e.g. "smollm2-135m-instruct") wherever an SFT checkpoint is asked
for (RLConfig.policy, DPOConfig.policy). ``sft_policy_for(...)`` says which.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline import registry
from pipeline.checkpoints import Checkpointer
from pipeline.configs import SFTConfig
from pipeline.distributed import Ranks
from pipeline.heap import keep_freed_memory
from pipeline.logprobs import token_logprobs
from pipeline.lora import add_lora, use_lora
from pipeline.onednn_linear import linears_on_onednn
from pipeline.progress import ProgressFn, StepProgress
from pipeline.rl.interface import PolicyResult
from pipeline.runfiles import MetricsFn, begin_run, export_causal_lm
from pipeline.steps import clip_and_step, length_grouped_batches
from pipeline.tokens import encode_prompt, encode_response, format_prompt, pad_left, position_ids


@dataclass(frozen=True)
class SFTExample:
    """A context and its reference output."""

    context: str
    reference: str


def sft_policy_for(base_model: str, sft_result: PolicyResult | None) -> str:
    """The policy RL/DPO start from: the SFT checkpoint when one was trained, else the base model."""
    return str(sft_result.model_path) if sft_result is not None else base_model


def response_nll(model: torch.nn.Module, rows: list[tuple[list[int], list[int]]], pad_id: int,
                 device: torch.device) -> torch.Tensor:
    """Mean NLL per response token of (prompt ids, response ids) rows; prompt tokens are not scored.

    Rows are left-padded so every response ends in the last column: the vocabulary projection is
    then only needed over the last (longest response + 1) positions (``logits_to_keep``).
    """
    ids, mask = pad_left([p + r for p, r in rows], pad_id, device)
    n = max(len(r) for _, r in rows)
    with linears_on_onednn(device):  # its backward, wherever it runs, too
        logits = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask), use_cache=False,
                       logits_to_keep=n + 1).logits[:, :-1].float()
    targets = ids[:, -n:]
    weights = torch.zeros_like(targets, dtype=torch.float32)
    for i, (_, r) in enumerate(rows):
        weights[i, n - len(r) :] = 1.0  # position t predicts token t+1; only response tokens count
    logp = token_logprobs(logits, targets, overwrite=True)  # the logits are this pass's own
    return -(logp * weights).sum() / weights.sum().clamp(min=1)


@keep_freed_memory()
def train_sft(
    config: SFTConfig,
    examples: Sequence[SFTExample],
    out_dir: str | Path,
    *,
    artifact_root: str | Path,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> PolicyResult:
    """Fine-tune ``config.model`` on (context, reference) examples; resumable from out_dir's last checkpoint."""
    if not examples:
        raise ValueError("no SFT examples: without reference outputs, use the base model as the SFT policy")
    ranks = Ranks.from_env()  # several processes under accelerate launch / torchrun, else one
    out_dir = Path(out_dir)
    files = begin_run(out_dir, config, on_metrics, writer=ranks.main)
    loaded = registry.load_causal_lm(config.model, artifact_root, device=ranks.device(config.device),
                                     precision=config.precision)
    tokenizer = loaded.tokenizer
    model: torch.nn.Module = loaded.model  # a peft wrapper once LoRA is added
    if use_lora(config.lora, loaded.device):
        model = add_lora(model, config.lora_settings(), causal_lm=True)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    checkpoints = Checkpointer(out_dir, config.keep_checkpoints)
    start, _ = checkpoints.restore({"policy": model}, {"adamw": optimizer})
    files.resume_at(start)

    rows = []
    for e in examples:
        response = encode_response(tokenizer, e.reference, config.max_length // 2)
        prompt = encode_prompt(tokenizer, format_prompt(tokenizer, e.context, config.chat_template),
                               config.max_length - len(response))
        rows.append((prompt, response))
    lengths = [len(p) + len(r) for p, r in rows]
    steps_per_epoch = -(-len(rows) // config.batch_size)
    total = steps_per_epoch * config.epochs
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    steps = StepProgress(on_progress if ranks.main else None, total, saved=start)

    def save(step: int) -> None:
        ranks.main_then_wait(lambda: checkpoints.save(step, {"policy": model}, {"adamw": optimizer}))
        steps.saved(step)

    step, started = start, time.perf_counter()
    while step < total:
        epoch, index = divmod(step, steps_per_epoch)
        batch = ranks.shard(length_grouped_batches(lengths, config.batch_size, config.seed, epoch)[index])
        loss = response_nll(model, [rows[i] for i in batch], tokenizer.pad_token_id, loaded.device)
        loss.backward()
        ranks.average_gradients(params)
        clip_and_step(optimizer, params, config.grad_clip)
        step += 1
        files.log(step, {"loss/train": ranks.mean(loss), "epoch": epoch})
        steps.trained(step)
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
            save(step)
    if step > start:
        save(step)
    steps.phase("exporting", 0, 1)
    model_path = ranks.main_then_wait(lambda: export_causal_lm(model, tokenizer, out_dir / "final")) or out_dir / "final"
    steps.phase("exporting", 1, 1)
    result = PolicyResult(out_dir, model_path, step, start, "sft", dict(files.last))
    files.write_result({**result.to_dict(), "seconds": time.perf_counter() - started})
    return result
