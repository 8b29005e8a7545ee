"""A trained model out as a plain transformers checkpoint with a model card (no Django here).

Policies (SFT, RL, DPO) are saved by their trainers as causal-LM checkpoints already; they are
loaded, LoRA is folded in (``unwrap_lora``: a no-op for the merged checkpoints the trainers write)
and saved again with the card. Reward models are saved as our ``RewardModel`` (a base-model body
plus ``reward_head.pt``), which plain transformers cannot read: they become the architecture's
``...ForSequenceClassification`` with ``num_labels=1``, whose ``score`` is our head.

Two things differ between our scorer and transformers' sequence-classification models, and the
conversion settles both so that plain transformers gives the lab's scores:

* transformers reads the score at the last token that is not ``pad_token_id``. Our tokenizer pads
  with EOS, and every scored text ends with EOS, so that would read the token before it. The
  export pads with another special token the texts never contain (the unknown token, or a new
  ``<|pad|>``), and writes right padding into the tokenizer (positions then count from 0, as ours).
* transformers' ``score`` has no bias; ours has one. Bradley-Terry training only sees score
  differences, so it stays (close to) 0; whatever it is, it is written into the config as
  ``score_bias`` and the card says to add it. Differences between scores never need it.

The folder is written next to the target and renamed into place (``save_atomically``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from pipeline.data.exports import ExportError
from pipeline.lora import unwrap_lora
from pipeline.runfiles import save_atomically

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

CARD_FILE = "README.md"
NEW_PAD_TOKEN = "<|pad|>"


@dataclass
class CardFacts:
    """What the model card says about a run; the Django side fills it from the database."""

    kind: str  # "reward", "sft" or "policy"
    run_id: int
    base_model: str  # the spec the run started from (a bundled name, a path or a hub id)
    base_hub_id: str  # the base model on the Hugging Face hub, "" when unknown
    experiment: str
    arm: str
    algorithm: str
    label_source: str
    data: dict[str, Any] = field(default_factory=dict)  # pair counts, the labeling run and its labeler
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    finished: str = ""  # ISO date of the run's end
    exported: str = ""  # ISO date of the export

    @property
    def is_reward(self) -> bool:
        return self.kind == "reward"


# -- the weights -------------------------------------------------------------------------------


def export_policy(checkpoint: Path, target: Path, facts: CardFacts) -> Path:
    """A causal-LM checkpoint (LoRA merged) + tokenizer + card, written atomically to ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=True)
    model = unwrap_lora(AutoModelForCausalLM.from_pretrained(str(checkpoint), local_files_only=True))

    def write(folder: Path) -> None:
        model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        (folder / CARD_FILE).write_text(model_card(facts, extra={}))

    return save_atomically(target, write)


def reward_pad_token(tokenizer: PreTrainedTokenizerBase) -> tuple[str, bool]:
    """(token, is_new): a pad token that is neither EOS nor BOS, so the last real token is found."""
    taken = {tokenizer.eos_token, tokenizer.bos_token}
    for candidate in (tokenizer.pad_token, tokenizer.unk_token):
        if candidate and candidate not in taken:
            return str(candidate), False
    return NEW_PAD_TOKEN, True


def reward_as_sequence_classifier(checkpoint: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """Our saved reward model as a transformers sequence classifier (num_labels=1), its tokenizer
    (pad token fixed, right padding) and the reading options of the lab's scorer."""
    from transformers import AutoModelForSequenceClassification

    from pipeline.reward.model import META_FILE, RewardModel

    if not (checkpoint / META_FILE).is_file():
        raise ExportError(f"{checkpoint} is not a saved reward model (no {META_FILE})")
    rm = RewardModel.from_pretrained(str(checkpoint), checkpoint.parent, device="cpu")
    body = unwrap_lora(rm.body)
    tokenizer = rm.tokenizer
    pad, is_new = reward_pad_token(tokenizer)
    if is_new:
        tokenizer.add_special_tokens({"pad_token": pad})
        body.resize_token_embeddings(len(tokenizer))
    tokenizer.pad_token = pad
    tokenizer.padding_side = "right"
    config = body.config
    config.architectures = None
    config.num_labels = 1
    config.pad_token_id = tokenizer.pad_token_id
    config.score_bias = float(rm.head.bias.item())
    classifier = AutoModelForSequenceClassification.from_config(config, dtype=next(body.parameters()).dtype)
    score = getattr(classifier, "score", None)
    if not isinstance(score, torch.nn.Linear) or score.bias is not None:
        raise ExportError(f"{type(classifier).__name__} has no bias-free `score` head to hold the reward head")
    with torch.no_grad():
        getattr(classifier, classifier.base_model_prefix).load_state_dict(body.state_dict())
        score.weight.copy_(rm.head.weight)
    reading = {"max_length": rm.max_length, "chat_template": rm.chat_template, "pad_token": pad,
               "score_bias": config.score_bias}
    return classifier.eval(), tokenizer, reading


def export_reward_model(checkpoint: Path, target: Path, facts: CardFacts) -> Path:
    """A sequence-classification checkpoint + tokenizer + card, written atomically to ``target``."""
    classifier, tokenizer, reading = reward_as_sequence_classifier(checkpoint)

    def write(folder: Path) -> None:
        classifier.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        (folder / CARD_FILE).write_text(model_card(facts, extra=reading))

    return save_atomically(target, write)


def export_model(checkpoint: Path, target: Path, facts: CardFacts) -> Path:
    """Export ``checkpoint`` (a run's ``final`` folder) by the run's kind."""
    if facts.is_reward:
        return export_reward_model(checkpoint, target, facts)
    return export_policy(checkpoint, target, facts)


# -- the card ----------------------------------------------------------------------------------


def _front_matter(facts: CardFacts) -> str:
    tags = ["rlaif", "reward-model" if facts.is_reward else "policy", facts.algorithm, facts.arm]
    lines = ["---", "library_name: transformers"]
    if facts.base_hub_id:
        lines.append(f"base_model: {facts.base_hub_id}")
    lines.append(f"pipeline_tag: {'text-classification' if facts.is_reward else 'text-generation'}")
    lines.append("tags:")
    lines += [f"- {tag}" for tag in dict.fromkeys(t for t in tags if t)]
    return "\n".join(lines + ["---", ""])


def _json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, sort_keys=True, default=str) + "\n```"


def _how_to_load(facts: CardFacts, extra: dict) -> str:
    if not facts.is_reward:
        return """```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("PATH")
model = AutoModelForCausalLM.from_pretrained("PATH")
messages = [{"role": "user", "content": "How do I boil an egg?"}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
print(tokenizer.decode(model.generate(ids, max_new_tokens=64)[0, ids.shape[1]:]))
```"""
    prompt = ("tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)"
              if extra.get("chat_template") else "context  # used as written")
    return f"""The lab scores the prompt as the policy sees it, then the response, then EOS;
the score is read at that EOS. Pad batches on the right (the pad token is not EOS).

```python
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("PATH")
model = AutoModelForSequenceClassification.from_pretrained("PATH")  # num_labels=1
messages = [{{"role": "user", "content": "How do I boil an egg?"}}]
prompt = {prompt}
ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
ids += tokenizer("Put it in boiling water for 8 minutes.", add_special_tokens=False)["input_ids"]
ids += [tokenizer.eos_token_id]
with torch.no_grad():
    score = model(torch.tensor([ids])).logits[0, 0].item() + model.config.score_bias
```

`score_bias` ({extra.get("score_bias", 0.0):.6g}) is the lab head's bias, which a transformers
`score` layer cannot hold; comparisons of two responses do not need it. The lab cut prompts from
the left to fit {extra.get("max_length")} tokens (responses to half of that)."""


def model_card(facts: CardFacts, extra: dict) -> str:
    """README.md: hub front matter, then what the model is, what trained it, and how to load it."""
    what = "reward model" if facts.is_reward else ("SFT policy" if facts.kind == "sft" else "policy")
    auto = "AutoModelForSequenceClassification" if facts.is_reward else "AutoModelForCausalLM"
    arm = f"{facts.arm} " if facts.arm and facts.arm != facts.kind else ""
    base = f"{facts.base_model}" + (f" ({facts.base_hub_id} on the Hugging Face hub)" if facts.base_hub_id else "")
    lines = [
        _front_matter(facts),
        f"# {facts.experiment}: {arm}{what} (training run #{facts.run_id})",
        "",
        f"A {what} trained in the RLAIF vs RLHF lab, exported as a plain transformers checkpoint "
        f"(LoRA merged) that loads with `{auto}` and no custom code.",
        "",
        f"- **Base model:** {base}",
        f"- **Experiment:** {facts.experiment}",
        f"- **Arm:** {facts.arm or '-'}",
        f"- **Algorithm:** {facts.algorithm or '-'}",
        f"- **Label source:** {facts.label_source or '-'}",
        f"- **Finished:** {facts.finished or '-'}",
        f"- **Exported:** {facts.exported or '-'}",
        "",
        "## Data and labels",
        "",
        _json_block(facts.data),
        "",
        "## Stage config",
        "",
        _json_block(facts.config),
        "",
        "## Final metrics",
        "",
        "| metric | value |",
        "| --- | --- |",
        *[f"| {key} | {value} |" for key, value in sorted(facts.metrics.items())],
        "",
        "## How to load",
        "",
        _how_to_load(facts, extra),
        "",
    ]
    return "\n".join(lines)
