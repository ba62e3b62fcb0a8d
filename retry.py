"""The one backoff of hazmon: how long to wait before trying again.

Every retry loop (a silent meter set aside, a serial port or MQTT session opened
again, a webhook sent again, a batch written again) waits by :class:`Backoff`. It
lives here, below every layer, so that drivers, stores and acquisition all import the
same one.
"""

from __future__ import annotations

import random


class Backoff:
    """Jittered exponential backoff.

    The ``n``-th consecutive failure waits a time drawn uniformly from
    ``[d / 2, d]`` with ``d = min(maximum, initial * 2 ** (n - 1))`` ("equal jitter").

    Parameters
    ----------
    initial : [s]
        Nominal wait after the first failure.
    maximum : [s]
        Longest nominal wait.
    rng
        Random source; seeded in tests.
    """

    def __init__(
        self, initial: float = 2.0, maximum: float = 60.0, *, rng: random.Random | None = None
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial ({initial}) <= maximum ({maximum})")
        self.initial = initial
        self.maximum = maximum
        self.failures = 0
        self._rng = rng or random.Random()

    def failure(self) -> float:
        """Record a failure; return how long to wait before trying again [s]."""
        self.failures += 1
        nominal = min(self.maximum, self.initial * 2.0 ** (self.failures - 1))
        return self._rng.uniform(nominal / 2, nominal)

    def success(self) -> None:
        """Record a success: the next failure starts from ``initial`` again."""
        self.failures = 0
