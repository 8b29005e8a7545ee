"""export_model of a DPO policy: plain AutoModelForCausalLM, in a Python that cannot import this
project, gives the same next-token logits on a prompt as the lab's policy model (within 1e-4)."""

import json

import pytest
import torch
from django.conf import settings
from django.core.management import call_command

from pipeline import registry
from pipeline.tokens import dialogue_messages, encode_prompt, format_prompt

from .conftest import run_isolated, trained_run

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CONTEXT = "Human: Hi!\n\nAssistant: Hello, how can I help?\n\nHuman: How do I boil an egg?"

# A user's own code: the chat template with the assistant turn opened, one forward pass.
LOGITS = """
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

folder, messages, save_to = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder).eval()
assert type(model).__module__.startswith("transformers.")
prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
with torch.no_grad():
    torch.save(model(torch.tensor([ids])).logits[0], save_to)
print(json.dumps({"ids": ids}))
"""


def test_an_exported_policy_gives_the_labs_logits_in_plain_transformers(demo, capsys, tmp_path):
    policy = trained_run(capsys, "train_policy", "--arm", "dpo-human", "--steps", "1", "--batch-size", "2")
    out = tmp_path / "exported-policy"
    call_command("export_model", str(policy.pk), str(out))
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {p.name for p in out.iterdir()}

    lab = registry.load_causal_lm(policy.checkpoint_path, settings.ARTIFACT_LOCAL, device="cpu")
    ids = encode_prompt(lab.tokenizer, format_prompt(lab.tokenizer, CONTEXT))
    with torch.no_grad():
        expected = lab.model(torch.tensor([ids])).logits[0]

    saved = tmp_path / "logits.pt"
    found = json.loads(run_isolated(LOGITS, str(out), json.dumps(dialogue_messages(CONTEXT)), str(saved),
                                    cwd=tmp_path).strip().splitlines()[-1])
    assert found["ids"] == ids
    logits = torch.load(saved)
    assert logits.shape == expected.shape
    assert (logits - expected).abs().max().item() < 1e-4
