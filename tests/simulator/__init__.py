"""A local upstream simulator speaking Anthropic Messages and OpenAI Chat Completions.

Tests and the benchmark point the bridge at it; `[sim:NAME key=value ...]` in the latest user
text picks the scenario (see `scenarios.py`). Prompt caching is modelled as the providers document
it (see `prompt_cache.py`); `Simulator.context.prompt_cache` shows what each request read and wrote.
"""

from .simulator import Simulator

__all__ = ["Simulator"]
