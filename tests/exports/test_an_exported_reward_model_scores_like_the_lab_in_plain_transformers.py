"""export_model of a reward run: plain AutoModelForSequenceClassification, in a Python that cannot
import this project, scores the lab's texts as the lab's RewardModel does (within 1e-4)."""

import json

import pytest
from django.conf import settings
from django.core.management import call_command

from pipeline.reward.model import RewardModel
from pipeline.tokens import dialogue_messages

from .conftest import run_isolated, trained_run

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Short, so the lab cuts nothing; the HH-style dialogue has several turns.
TEXTS = [
    ("Human: How do I boil an egg?", "Put it in boiling water for eight minutes."),
    ("Human: How do I boil an egg?", "Eggs cannot be boiled."),
    ("Human: Hi!\n\nAssistant: Hello, how can I help?\n\nHuman: Name a colour.", "Blue."),
    ("What is two plus two?", "Four, of course; two and two make four."),
]

# A user's own scoring code: the chat template, the response, EOS; a right-padded batch.
SCORE = """
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

folder, texts = sys.argv[1], json.loads(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
assert type(model).__module__.startswith("transformers.") and model.config.num_labels == 1
rows = []
for messages, response in texts:
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    rows.append(ids + tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
batch = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
with torch.no_grad():
    logits = model(**batch).logits[:, 0] + model.config.score_bias
print(json.dumps({"scores": logits.tolist(), "lengths": [len(r) for r in rows]}))
"""


def test_an_exported_reward_model_scores_like_the_lab_in_plain_transformers(demo, capsys, tmp_path):
    rm_run = trained_run(capsys, "train_reward", "--labels", "human", "--max-steps", "1", "--batch-size", "2",
                         "--max-length", "128")
    out = tmp_path / "exported-rm"
    call_command("export_model", str(rm_run.pk), str(out))
    assert "wrote training run" in capsys.readouterr().out
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {p.name for p in out.iterdir()}
    assert not list(tmp_path.glob(".exported-rm*"))  # the staging folder was renamed into place

    lab = RewardModel.from_pretrained(rm_run.checkpoint_path, settings.ARTIFACT_LOCAL, device="cpu")
    contexts, responses = [c for c, _ in TEXTS], [r for _, r in TEXTS]
    expected = lab.score(contexts, responses)
    lab_lengths = [len(sum(lab.encode(c, r), [])) for c, r in TEXTS]
    assert max(lab_lengths) < lab.max_length // 2  # nothing was cut on the lab's side

    texts = [[dialogue_messages(c), r] for c, r in TEXTS]
    found = json.loads(run_isolated(SCORE, str(out), json.dumps(texts), cwd=tmp_path).strip().splitlines()[-1])
    assert found["lengths"] == lab_lengths  # the same token ids on both sides
    assert found["scores"] == pytest.approx(expected, abs=1e-4)
    assert len(set(round(s, 3) for s in expected)) > 1  # the texts score differently: a real check
