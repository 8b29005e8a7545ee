"""One process of a data-parallel run of our own loops (started by torchrun in the test):
``train_rank.py KIND MODEL ARTIFACT_ROOT OUT`` with KIND reinforce | ppo | reward | sft | dpo. It
trains, and writes what its parameters were after every optimizer step of our loops to
OUT/params-RANK.json (TRL's DPO keeps its replicas in step itself, through DDP)."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import torch  # noqa: E402

import pipeline.reward.train as reward_train  # noqa: E402
import pipeline.rl.ppo as ppo  # noqa: E402
import pipeline.rl.reinforce as reinforce  # noqa: E402
import pipeline.sft as sft  # noqa: E402

kind, spec, artifact_root, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
torch.set_num_threads(1)

# After every real optimizer step, note the sum of each trainable parameter of this process.
digests: list[list[float]] = []


def recording(real):
    def step_and_record(optimizer, params, max_norm):
        norm = real(optimizer, params, max_norm)
        digests.append([float(p.detach().double().sum()) for p in params])
        return norm
    return step_and_record


for module in (reinforce, ppo, reward_train, sft):
    module.clip_and_step = recording(module.clip_and_step)

if kind == "reinforce":
    prompts = [q + " Answer yes or no." for q in ("Is the sky blue?", "Do fish swim?", "Is fire cold?", "Can birds fly?")]
    config = reinforce.RLConfig(policy=spec, steps=2, batch_size=2, samples_per_prompt=2, max_new_tokens=4, lr=1e-3,
                                beta=0.05, lora=True, checkpoint_every=1, seed=0, device="cpu")
    result = reinforce.train_reinforce(
        config, prompts, lambda c, r: [1.0 if x.strip().lower().startswith("yes") else 0.0 for x in r],
        out / "run", artifact_root=artifact_root)
elif kind == "ppo":
    # 3 prompts over 2 processes: shares of 2 and 1, one prompt per minibatch -> 2 minibatches per pass on
    # both, the smaller share's second one empty; 2 passes, 2 optimizers -> 8 optimizer steps per step.
    prompts = [q + " Answer yes or no." for q in ("Is the sky blue?", "Do fish swim?", "Is fire cold?", "Can birds fly?")]
    config = ppo.RLConfig(policy=spec, steps=2, batch_size=3, samples_per_prompt=2, max_new_tokens=4, lr=1e-3,
                          beta=0.05, lora=True, checkpoint_every=1, seed=0, device="cpu", ppo_epochs=2,
                          ppo_minibatch_size=1)
    result = ppo.train_ppo(
        config, prompts, lambda c, r: [1.0 if x.strip().lower().startswith("yes") else 0.0 for x in r],
        out / "run", artifact_root=artifact_root)
elif kind == "reward":
    examples = [reward_train.PreferenceExample(f"Human: question {i}?", f"Helpful answer {i}.", f"Rude answer {i}!",
                                               p=0.8 if i % 2 else 0.3) for i in range(10)]
    config = reward_train.RewardConfig(model=spec, lora=True, batch_size=4, epochs=1, checkpoint_every=1, seed=5,
                                       device="cpu", max_length=64)
    result = reward_train.train_reward_model(config, examples, out / "run", artifact_root=artifact_root)
elif kind == "dpo":
    import pipeline.dpo as dpo

    examples = [reward_train.PreferenceExample(f"Human: question {i}?", f"Helpful answer {i}.", f"Rude answer {i}!",
                                               p=1.0 if i % 2 else 0.0) for i in range(8)]
    config = dpo.DPOConfig(policy=spec, batch_size=2, max_steps=2, checkpoint_every=0, seed=1, device="cpu",
                           max_length=64)
    result = dpo.train_dpo(config, examples, out / "run", artifact_root=artifact_root)
else:
    examples = [sft.SFTExample(f"Human: say {w}.", f"{w} {w} {w}.") for w in ("red", "green", "blue", "pink", "gold")]
    config = sft.SFTConfig(model=spec, lora=True, batch_size=4, epochs=1, checkpoint_every=1, seed=3, device="cpu",
                           max_length=64)
    result = sft.train_sft(config, examples, out / "run", artifact_root=artifact_root)

rank = int(os.environ["RANK"])
(out / f"params-{rank}.json").write_text(json.dumps({"steps": result.steps, "digests": digests}))
