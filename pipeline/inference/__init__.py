"""The inference engine: a causal LM run fast on many token rows that share prefixes.

Callers give token ids and get tensors back; KV caches, row references, padding and batch
planning never leave the package. Every row is a *prefix* (often shared by several rows: a
dialogue, a prompt) and a *suffix* run on top of it::

    engine = build_engine(model, tokenizer, precision="exact", shared_prefix=system_ids)
    engine.last_logits(prefixes, suffixes, prefix_of)           # [R, V] at each row's last token
    engine.token_logprobs(prefixes, continuations, prefix_of)   # log P of every continuation token
    engine.decode(prefixes, suffixes, prefix_of, max_new_tokens, n=k, temperature=T, seeds=...)

Policy generation (RL rollouts, samples for raters) decodes through ``decode`` too
(``pipeline.generation.decode_prompts``); the plain transformers loop there samples with the
same rule (``sampling``), so both give the same tokens from the same seeds.

``prefix_of[r]`` is the index of row r's prefix in ``prefixes``. Each prefix is computed once
per call, on the kept ``shared_prefix``, and the prefixes of the latest call stay cached, so a
second call on the same prefixes (decode, then score) computes only its suffixes.

Modules (plain Python + torch + transformers, never Django):
  api        InferenceEngine (the interface), EngineStats
  engines    build_engine; PackedEngine (Llama-style models through ``fused``, rows packed
             without padding; on CPU and CUDA) and PaddedEngine (any causal LM, transformers
             forward, padded rows)
  staged     StagedEngine, the stages both engines share (head, prefixes, suffixes, decoding),
             and their planning (batches, groups, longest common prefix)
  kv         KV states and row references, the cache handed from one stage to the next
  fused      the direct forward of Llama-style decoders on packed rows (oneDNN on a CPU;
             ``portable``: torch ops only, one batched attention per layer, on a GPU)
  proj       its linear layers: stacked projections, packed once for oneDNN (decoding steps on
             MKL on Intel CPUs, on the native few-row kernel on others), LoRA terms live
  cblas      MKL's bf16 GEMM (float32 out), reached through the cblas symbols torch exports
  native     C++ kernels of a decoding step: its attention (decode_attention.cpp) and its
             few-row products (few_rows_linear.cpp), built once per machine where a compiler
             is at hand; SDPA and oneDNN where not
  streams    single-core worker threads that split a packed forward's rows on a CPU
  precision  the bf16-mlp copy of a model, parameter counting
  sampling   the sampling rule (greedy or inverse-CDF, one seeded generator per row), seeds

Importing this package imports nothing heavy; import the module you need.
"""

# What an engine computes in: "exact" = float32, the plain transformers forward's numbers;
# "bf16-mlp" = float32 except the feed-forward matmuls, which take bfloat16 operands
# (``precision.model_for_precision`` says why only those).
PRECISIONS = ("exact", "bf16-mlp")
# What policy decoding (RL rollouts, samples) computes in: "exact" = float32, the policy's own
# numbers; "bf16" = every matmul (projections and output head) on bfloat16 operands, the KV
# cache and attention in bfloat16, the rest float32: a sampler's choice only, losses are always
# taken on the float32 forward.
DECODE_PRECISIONS = ("exact", "bf16")
