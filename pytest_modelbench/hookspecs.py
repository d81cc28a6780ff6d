"""Hooks that conftest files and plugins can implement to extend pytest-modelbench."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .models.providers import ProviderFactory


@pytest.hookspec
def pytest_modelbench_providers(config: pytest.Config) -> dict[str, ProviderFactory] | None:
    """Register model providers under new spec prefixes.

    Return a mapping of prefix → factory. A factory is called once per process and model as
    ``factory(spec, options)`` with a :class:`pytest_modelbench.ModelSpec` (``spec.model`` is
    the part after ``PREFIX:``, ``spec.base_url`` the ``@URL`` suffix, ``spec.params`` and
    ``spec.api_key_env`` come from a named model's table) and
    :class:`pytest_modelbench.ProviderOptions` (``timeout``, ``retries``, ``environ``). It
    returns an object with ``complete(messages, *, max_tokens=None, temperature=None,
    timeout=None, **params) -> Completion`` and ``close()``; ``complete`` raises
    :class:`pytest_modelbench.ModelError` (or a subclass) when a call fails.

    Called in ``pytest_configure``, so implement it in an installed plugin or in a conftest.py
    that pytest loads before configuring (the rootdir's or one beside the test paths given).
    A prefix that is built in, or registered twice, is a usage error naming both plugins.
    """
