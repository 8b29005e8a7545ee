"""An experiment whose test prompts have human references, for the tests of rounds with the reference."""

from __future__ import annotations

from webapp.experiments.models import Experiment, PolicyResponse, Prompt


def experiment_with_references(
    *, task: str = "summarization", n_prompts: int = 6, policies=("sft", "rlaif"), blank: tuple[int, ...] = (), slug: str = "ref-exp"
) -> Experiment:
    """Test prompts with a reference each (but those numbered in ``blank``, whose reference is
    empty or only spaces) and one response per policy; one train prompt with a reference too."""
    experiment = Experiment.objects.create(slug=slug, name="Posts to summarize", task=task)
    for i in range(n_prompts):
        reference = ("" if i % 2 else "   \n") if i in blank else f"Summary {i}: the poster asks how to plan a move."
        prompt = Prompt.objects.create(
            experiment=experiment, split="test", context=f"POST: a long story number {i} about moving house.",
            reference=reference, content_hash=Prompt.hash_for(f"{slug}-{i}"),
        )
        for n, policy in enumerate(policies):
            PolicyResponse.objects.create(prompt=prompt, policy=policy, text=f"Model summary {i}.{n} of the move.")
    Prompt.objects.create(
        experiment=experiment, split="train", context="POST: a train post.", reference="Train reference.",
        content_hash=Prompt.hash_for(f"{slug}-train"),
    )
    return experiment
