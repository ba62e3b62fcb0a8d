"""Central workers: every channel of every kit judged once, centrally, on NATS JetStream.

Kits publish ``hazmon.readings/1`` over MQTT (QoS 1) to a NATS cluster's MQTT gateway;
a subject mapping puts each channel in one of ``partitions`` partitions
(:mod:`.partitions`); a stream replicated on three nodes keeps them. A worker
(:mod:`.worker`) holds a lease per partition (:mod:`.leases`, a KV bucket with a TTL),
consumes the partition in order and runs the kit's own :class:`Pipeline` on it.
docs/service-and-central-ingest.md explains the choice and the guarantees.
"""
