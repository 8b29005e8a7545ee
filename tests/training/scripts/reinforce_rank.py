"""One process of a data-parallel REINFORCE run (started by torchrun in the test): trains, then
writes a digest of its trainable parameters to OUT/params-RANK.json."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import torch  # noqa: E402

from pipeline.rl import RLConfig, train_policy  # noqa: E402

spec, artifact_root, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
torch.set_num_threads(1)
prompts = ["Is the sky blue? Answer yes or no.", "Do fish swim? Answer yes or no.",
           "Is fire cold? Answer yes or no.", "Can birds fly? Answer yes or no."]


def says_yes(contexts, responses):
    return [1.0 if r.strip().lower().startswith("yes") else 0.0 for r in responses]


import pipeline.rl.reinforce as reinforce  # noqa: E402

# Record, after every optimizer step, what this process's parameters are (the real step runs).
digests: list[list[float]] = []
real_step = reinforce.clip_and_step


def step_and_record(optimizer, params, max_norm):
    norm = real_step(optimizer, params, max_norm)
    digests.append([float(p.detach().double().sum()) for p in params])
    return norm


reinforce.clip_and_step = step_and_record

config = RLConfig(policy=spec, steps=2, batch_size=2, samples_per_prompt=2, max_new_tokens=4, lr=1e-3, beta=0.05,
                  lora=True, checkpoint_every=1, seed=0, device="cpu")
result = train_policy(config, prompts, says_yes, out / "rl", algorithm="reinforce", artifact_root=artifact_root)
rank = int(os.environ["RANK"])
(out / f"params-{rank}.json").write_text(json.dumps({"steps": result.steps, "digests": digests}))
