"""Writes that touch experiments, prompts and pairs. Keyword-only, ``thing_action`` names."""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from pipeline import registry
from pipeline.data import SPLITS, ImportFormatError, ReadLimits, Record, confidence_strength, read
from pipeline.progress import Progress, ProgressFn, no_progress
from pipeline.tokens import count_tokens
from webapp.experiments.models import Experiment, PolicyResponse, PreferencePair, Prompt, Task

DEMO_DIR = Path(__file__).resolve().parent / "demo"


@dataclass
class ImportResult:
    experiment: str
    imported: int = 0
    skipped: int = 0
    prompts_created: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "imported": self.imported,
            "skipped": self.skipped,
            "experiment": self.experiment,
            "prompts_created": self.prompts_created,
            "skipped_reasons": dict(self.skipped_reasons),
        }


def preferences_import(
    *,
    experiment: Experiment,
    path: str | Path,
    fmt: str,
    split: str | None,
    seed: int = 0,
    min_confidence: float | None = None,
    source: str | None = None,
    on_progress: ProgressFn | None = None,
    limits: ReadLimits | None = None,
    columns: dict[str, str] | None = None,
) -> ImportResult:
    """Import a preference file into ``experiment``, all or nothing.

    The whole file is parsed before anything is written, and the writes happen in one
    transaction, so a bad line anywhere leaves the database as it was. Pairs already in
    the experiment (same prompt, same two candidates in either order) are skipped. The file
    is streamed: only the parsed records are held, and ``limits`` (by default the
    IMPORT_MAX_* settings) stop an oversized file or line after at most one chunk more.
    """
    if split is not None and split not in SPLITS:
        raise ImportFormatError(path, None, f"split must be 'train' or 'test', got {split!r}")
    records = list(read(path, fmt, seed=seed, limits=limits or import_limits(), columns=columns))
    source = source or Path(path).name
    report = on_progress or no_progress
    skipped: Counter[str] = Counter()

    with transaction.atomic():
        known = {
            row["content_hash"]: row["split"]
            for row in Prompt.objects.filter(experiment=experiment).values("content_hash", "split")
        }
        new_prompts, planned = _plan_import(
            records, experiment=experiment, known_splits=known, split=split,
            min_confidence=min_confidence, source=source, path=path, skipped=skipped,
        )
        created = Prompt.objects.bulk_create(new_prompts.values(), batch_size=500)
        prompt_ids = dict(
            Prompt.objects.filter(experiment=experiment).values_list("content_hash", "id")
        )
        pairs = _new_pairs(planned, experiment=experiment, prompt_ids=prompt_ids, source=source, skipped=skipped)
        for start in range(0, len(pairs), 500):
            PreferencePair.objects.bulk_create(pairs[start : start + 500])
            # Nothing is kept before the transaction commits: the writes are a phase, not done work.
            report(Progress(0, len(pairs), "importing", min(start + 500, len(pairs)), len(pairs)))
    report(Progress.durable(len(pairs), len(pairs), "importing"))

    return ImportResult(
        experiment=experiment.slug,
        imported=len(pairs),
        skipped=sum(skipped.values()),
        prompts_created=len(created),
        skipped_reasons=dict(skipped),
    )


def _plan_import(
    records: list[Record],
    *,
    experiment: Experiment,
    known_splits: dict[str, str],
    split: str | None,
    min_confidence: float | None,
    source: str,
    path: str | Path,
    skipped: Counter[str],
) -> tuple[dict[str, Prompt], list[tuple[str, Record]]]:
    """The prompts to create and the (prompt hash, record) pairs to store, in file order.

    Records filtered out are counted in ``skipped`` by reason; a record with no split at all
    is an error, since the file cannot be imported as the user meant it.
    """
    new_prompts: dict[str, Prompt] = {}
    planned: list[tuple[str, Record]] = []
    for record in records:
        record_split = record.split or split
        if record_split is None:
            raise ImportFormatError(path, record.line, "no split: pass --split train|test or give a 'split' field")
        if min_confidence is not None and (
            record.human_confidence is None or confidence_strength(record.human_confidence) < min_confidence
        ):
            skipped["below minimum confidence"] += 1
            continue
        if record.candidate_1 == record.candidate_2:
            skipped["identical candidates"] += 1
            continue
        prompt_hash = Prompt.hash_for(record.context)
        new = new_prompts.get(prompt_hash)
        known_split = new.split if new is not None else known_splits.get(prompt_hash)
        if known_split is not None and known_split != record_split:
            skipped[f"prompt already in the {known_split} split"] += 1
            continue
        if known_split is None:
            new_prompts[prompt_hash] = Prompt(
                experiment=experiment,
                split=record_split,
                context=record.context,
                reference=record.reference,
                source=source,
                source_id=record.source_id,
                content_hash=prompt_hash,
            )
        planned.append((prompt_hash, record))
    return new_prompts, planned


def _new_pairs(
    planned: list[tuple[str, Record]],
    *,
    experiment: Experiment,
    prompt_ids: dict[str, int],
    source: str,
    skipped: Counter[str],
) -> list[PreferencePair]:
    """Unsaved pairs for ``planned``, minus those already in the experiment or earlier in the file.

    A pair is the same pair whatever the order of its candidates (its content hash is symmetric).
    """
    seen = set(
        PreferencePair.objects.filter(prompt__experiment=experiment).values_list("prompt_id", "content_hash")
    )
    pairs = []
    for prompt_hash, record in planned:
        key = (prompt_ids[prompt_hash], PreferencePair.hash_for(record.candidate_1, record.candidate_2))
        if key in seen:
            skipped["duplicate"] += 1
            continue
        seen.add(key)
        pairs.append(
            PreferencePair(
                prompt_id=key[0],
                candidate_1=record.candidate_1,
                candidate_2=record.candidate_2,
                human_choice=record.human_choice,
                human_confidence=record.human_confidence,
                source=source,
                source_line=record.line,
                source_order_swapped=record.swapped,
                content_hash=key[1],
            )
        )
    return pairs


def import_limits() -> ReadLimits:
    return ReadLimits(
        max_bytes=settings.IMPORT_MAX_DECOMPRESSED_BYTES,
        max_line_bytes=settings.IMPORT_MAX_LINE_BYTES,
        max_bytes_name="IMPORT_MAX_DECOMPRESSED_BYTES",
        max_line_bytes_name="IMPORT_MAX_LINE_BYTES",
    )


# -- the demo experiments -----------------------------------------------------------

DEMO_EXPERIMENTS = [
    {
        "slug": "demo",
        "name": "Demo: harmless dialogue",
        "task": Task.HARMLESS,
        "file": "dialogues.jsonl",
        "description": (
            "Short dialogues written for this project, some of them requests a careful assistant "
            "should decline. The preference labels are the authors' own, for demonstration."
        ),
    },
    {
        "slug": "demo-summarize",
        "name": "Demo: summarization",
        "task": Task.SUMMARIZATION,
        "file": "posts.jsonl",
        "description": (
            "Short first-person posts written for this project, each with two summaries and a reference "
            "summary. The preference labels are the authors' own, for demonstration."
        ),
    },
    {
        "slug": "demo-helpful",
        "name": "Demo: helpful dialogue",
        "task": Task.HELPFUL,
        "file": "helpful.jsonl",
        "description": (
            "Everyday questions (cooking, code, travel, health information, maths, writing) written for this "
            "project, each with two assistant replies; the label marks the more helpful one. The preference "
            "labels are the authors' own, for demonstration."
        ),
    },
]


def demo_load(*, owner=None) -> list[ImportResult]:
    """Create the demo experiments and import their data; running it again changes nothing."""
    results = []
    for spec in DEMO_EXPERIMENTS:
        with transaction.atomic():
            experiment, _ = Experiment.objects.get_or_create(
                slug=spec["slug"],
                defaults={
                    "name": spec["name"],
                    "task": spec["task"],
                    "description": spec["description"],
                    "owner": owner,
                },
            )
            results.append(
                preferences_import(
                    experiment=experiment, path=DEMO_DIR / spec["file"], fmt="jsonl", split=None, source=spec["file"]
                )
            )
    return results


def import_summary(result: ImportResult) -> str:
    reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(result.skipped_reasons.items()))
    line = f"{result.experiment}: imported {result.imported} pairs ({result.prompts_created} new prompts), skipped {result.skipped}"
    return f"{line} ({reasons})" if reasons else line


def import_json(result: ImportResult) -> str:
    return json.dumps(result.to_dict())


# -- response lengths: one unit for every response -----------------------------------------

LENGTH_BATCH = 256


def length_tokenizer_spec(experiment) -> str:
    """The model spec whose tokenizer counts the experiment's response lengths: its policy
    model's, or the bundled default when that model is not on this machine (a hub id not cached)."""
    try:
        registry.resolve(experiment.policy_model, settings.ARTIFACT_LOCAL, allow_download=settings.ALLOW_MODEL_DOWNLOAD)
    except registry.ModelNotFound:
        return registry.DEFAULT_MODEL
    return experiment.policy_model


@functools.lru_cache(maxsize=4)
def _length_tokenizer(spec: str):
    # Loaded once per process: a round creation or an import should not reread tokenizer.json.
    registry.prepare(spec, settings.ARTIFACT_LOCAL, allow_download=settings.ALLOW_MODEL_DOWNLOAD)
    return registry.load_tokenizer(spec, settings.ARTIFACT_LOCAL, allow_download=settings.ALLOW_MODEL_DOWNLOAD)


def stale_lengths_fill(rows, spec: str) -> int:
    """Count and store the tokens of every response in ``rows`` (a queryset of responses, the
    current or a migration's historical model) under ``spec``'s tokenizer, LENGTH_BATCH at a time."""
    ids = list(rows.order_by("id").values_list("id", flat=True))
    if not ids:
        return 0
    tokenizer = _length_tokenizer(spec)
    model = rows.model
    for start in range(0, len(ids), LENGTH_BATCH):
        batch = list(model.objects.filter(id__in=ids[start : start + LENGTH_BATCH]).only("id", "text").order_by("id"))
        for response, n in zip(batch, count_tokens(tokenizer, [r.text for r in batch])):
            response.length_tokens, response.length_tokenizer = n, spec
        model.objects.bulk_update(batch, ["length_tokens", "length_tokenizer"])
    return len(ids)


def response_lengths_fill(*, experiment: Experiment) -> int:
    """Store the length of each of the experiment's responses that has none under its length
    tokenizer (new, or counted under another one); returns how many were counted."""
    spec = length_tokenizer_spec(experiment)
    stale = PolicyResponse.objects.filter(prompt__experiment=experiment).exclude(length_tokens__isnull=False, length_tokenizer=spec)
    with transaction.atomic():
        return stale_lengths_fill(stale, spec)
