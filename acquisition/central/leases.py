"""Partition leases in a JetStream KV bucket: each partition owned by one worker.

The standard JetStream pattern for a single active consumer per key: a lease is the
key ``p.<partition>`` in a bucket whose entries expire after ``ttl`` seconds (the
bucket's ``max_age``). A worker takes a free partition with ``create`` (fails if the
key exists), keeps it with ``update`` at the revision it last wrote (fails if anyone
else wrote since, or the key expired), and gives it up with a ``delete`` at that
revision. A worker that dies stops renewing; its keys expire and the others take them
within ``ttl`` plus one renewal period. Workers announce themselves as ``w.<id>``
(same TTL), and each aims at ``ceil(partitions / live workers)`` partitions.

Why no two workers judge a partition at once: a worker judges only while its last
renewal was *sent* less than ``ttl / 2`` ago (:meth:`LeaseTable.valid`); the server
counts the TTL from when it stored that write, which is later. A worker cut off from
the cluster therefore stops at least ``ttl / 2`` before another can take its key.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NoKeysError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Lease:
    """One partition this worker holds."""

    partition: int
    revision: int
    renewed: float
    """:func:`time.monotonic` when the write that holds it was sent [s]."""


class LeaseTable:
    """This worker's leases and its view of the others.

    Parameters
    ----------
    kv
        The lease bucket (its ``max_age`` is ``ttl``).
    worker
        This worker's id (unique among the live workers).
    partitions
        How many partitions there are.
    ttl : [s]
        The bucket's TTL.
    """

    def __init__(self, kv: KeyValue, worker: str, partitions: int, ttl: float) -> None:
        self.kv = kv
        self.worker = worker
        self.partitions = partitions
        self.ttl = ttl
        self.held: dict[int, Lease] = {}

    def valid(self, partition: int) -> bool:
        """Whether this worker may still judge ``partition`` (see the module doc)."""
        lease = self.held.get(partition)
        return lease is not None and time.monotonic() - lease.renewed < self.ttl / 2

    async def _keys(self) -> list[str]:
        try:
            return list(await self.kv.keys())
        except NoKeysError:
            return []

    async def renew(self) -> list[int]:
        """Renew every held lease; return the partitions lost (expired or taken),
        which must stop being judged at once (the caller stops their runners)."""
        lost: list[int] = []
        for partition, lease in list(self.held.items()):
            sent = time.monotonic()
            try:
                lease.revision = await self.kv.update(
                    f"p.{partition}", self.worker.encode(), last=lease.revision
                )
                lease.renewed = sent
            except KeyWrongLastSequenceError:
                log.warning("lease of partition %d lost (expired or taken)", partition)
                self.held.pop(partition, None)
                lost.append(partition)
        return lost

    async def balance(self) -> tuple[list[int], list[int]]:
        """Announce this worker, give up leases beyond its share, take free ones up to
        it; return (taken, released)."""
        lost: list[int] = []
        await self.kv.put(f"w.{self.worker}", b"1")
        keys = await self._keys()
        workers = max(1, sum(1 for key in keys if key.startswith("w.")))
        target = math.ceil(self.partitions / workers)
        while len(self.held) > target:
            partition = max(self.held)
            lease = self.held.pop(partition)
            lost.append(partition)
            with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError):
                await self.kv.delete(f"p.{partition}", last=lease.revision)
        taken: list[int] = []
        taken_keys = {key for key in keys if key.startswith("p.")}
        # Start the search where this worker's name points, so workers starting together
        # do not all race for partition 0.
        offset = sum(self.worker.encode()) % self.partitions
        for step in range(self.partitions):
            if len(self.held) >= target:
                break
            partition = (offset + step) % self.partitions
            if partition in self.held or f"p.{partition}" in taken_keys:
                continue
            sent = time.monotonic()
            try:
                revision = await self.kv.create(f"p.{partition}", self.worker.encode())
            except KeyWrongLastSequenceError:
                continue
            self.held[partition] = Lease(partition, revision, sent)
            taken.append(partition)
        return taken, lost

    async def release_all(self) -> None:
        """Give every lease back (a clean stop: the others take over at once)."""
        for partition, lease in list(self.held.items()):
            with contextlib.suppress(KeyWrongLastSequenceError, KeyNotFoundError):
                await self.kv.delete(f"p.{partition}", last=lease.revision)
        self.held.clear()
        with contextlib.suppress(KeyNotFoundError):
            await self.kv.delete(f"w.{self.worker}")
