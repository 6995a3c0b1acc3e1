"""Shared test helpers: chunkings of a byte string (as h11's tr() does) and in-memory modules."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest
from hypothesis import settings

# CI replays the same examples every run (a red CI then means a change broke something, not a new
# random draw); locally each run explores new ones. `HYPOTHESIS_PROFILE=explore` forces exploration.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "explore"))

from emulator.runtime.in_memory import InMemoryModule

# The three variants the manual's sessions are replayed on (issue: "at least").
MANUAL_PROFILES = ["NL668_AM_00", "NL668_EU_00", "M910"]


def chunkings(data: bytes, seed: int = 0) -> Iterator[list[bytes]]:
    """The same bytes whole, one byte at a time, and split at random points."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(seed)
    for _ in range(3):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6)))) if len(data) > 1 else []
        bounds = [0, *cuts, len(data)]
        yield [data[a:b] for a, b in zip(bounds, bounds[1:])]


@pytest.fixture
def module() -> InMemoryModule:
    """A fresh NL668_AM_00 with its boot URCs already read."""
    m = InMemoryModule("NL668_AM_00")
    m.take()
    return m
