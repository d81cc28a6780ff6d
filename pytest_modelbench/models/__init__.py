"""Models: how a model is named, called and measured.

* :mod:`.specs`: model specs (``echo``, ``python:…``, ``openai:MODEL[@URL]``, named models).
* :mod:`.completion`: :class:`~.completion.Completion`, what one call returns and measured.
* :mod:`.providers`: the provider registry and the providers (OpenAI-compatible, Anthropic,
  Ollama, local) with their shared HTTP machinery (retries, timeouts, streaming, redaction).
* :mod:`.cache`: the response store (read-through cache and offline replay).
* :mod:`.model`: :class:`~.model.Model`, the object behind the ``model`` fixture, and the
  per-run call totals and meter.
* :mod:`.limiter`, :mod:`.dispatch`, :mod:`.prefetch`: concurrent calls: the rate limiter of
  an endpoint, the channels that send a model's calls through it, and a run's calls fetched
  ahead of it (docs/concurrency.md).

A new provider goes in :mod:`.providers` (or is registered from a conftest through the
``pytest_modelbench_providers`` hook). May import: the foundation, ``core`` and ``cost`` (a
call's price). Does not import pytest.
"""
