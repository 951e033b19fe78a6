"""Realistic catalogue items for benchmarks, shaped like the rows of data/llms.json.

Deterministic (seeded), so every run and both the service and the baseline read
exactly the same table.
"""

from __future__ import annotations

import random

from chalicelib.models import Item, validate_item

PROVIDERS = (
    "OpenAI",
    "Anthropic",
    "Google",
    "Meta",
    "Mistral AI",
    "Alibaba",
    "DeepSeek",
    "Microsoft",
    "Amazon",
    "Cohere",
    "xAI",
)
FAMILIES = ("gpt", "claude", "gemini", "llama", "mistral", "qwen", "deepseek", "phi", "nova", "command", "grok")
BENCHMARKS = (
    "mmlu",
    "mmlu_pro",
    "gpqa_diamond",
    "humaneval",
    "math",
    "gsm8k",
    "hellaswag",
    "arc_challenge",
    "winogrande",
    "mbpp",
    "drop",
    "ifeval",
)
CONTEXT_WINDOWS = (8192, 16384, 32768, 65536, 128000, 131072, 200000, 256000, 1048576, 2097152)


def generate_items(count: int, seed: int = 20261125) -> list[Item]:
    """`count` valid items with unique names, 4 to 10 benchmarks each, a release date and an update time."""
    rng = random.Random(seed)
    items: list[Item] = []
    for index in range(count):
        provider_index = rng.randrange(len(PROVIDERS))
        chosen = rng.sample(BENCHMARKS, rng.randint(4, 10))
        benchmarks = {name: round(rng.uniform(20.0, 95.0), 1) for name in chosen}
        year, month, day = rng.randint(2022, 2026), rng.randint(1, 12), rng.randint(1, 28)
        tier = rng.choice(("mini", "pro", "max", "lite", "ultra"))
        row = {
            "model_name": f"{FAMILIES[provider_index]}-{tier}-{index:06d}",
            "provider": PROVIDERS[provider_index],
            "version": f"{year}-{month:02d}-{day:02d}",
            "release_date": f"{year}-{month:02d}-{day:02d}",
            "context_window": rng.choice(CONTEXT_WINDOWS),
            "score": round(sum(benchmarks.values()) / len(benchmarks), 1),
            "benchmarks": benchmarks,
            "updated_at": "2026-11-01T00:00:00Z",
        }
        items.append(validate_item(row))
    return items
