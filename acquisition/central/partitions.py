"""Where central readings live in NATS: subjects, the stream, its consumers, the config.

An MQTT topic ``hazmon/<site>/<device>/<channel>`` is the NATS subject
``hazmon.<site>.<device>.<channel>`` (the gateway turns ``/`` into ``.``); the
server's subject mapping rewrites it to ``hzp.<partition>.<site>.<device>.<channel>``,
the partition a hash of the three tokens (``partition(N,1,2,3)``), so one channel is
always in one partition, whichever node received it. Changing ``N`` moves channels:
it is fixed when the cluster is set up (docs).

The centre confirms what it stored on the core NATS subject
``hazmon-confirm.<site>.<device>.<channel>``, which a kit's MQTT subscription to
``hazmon-confirm/<site>/#`` receives through the gateway (no stream: a confirmation a
kit missed is made again when its resend arrives).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hazmon.acquisition.publish import CONFIRM_PREFIX

#: The stream holding every partition, replicated on three nodes.
STREAM = "HAZMON_READINGS"
#: Its subjects' prefix (after the mapping).
PARTITIONED_PREFIX = "hzp"
#: Dead letters: messages that could not be processed, kept for inspection.
DEAD_STREAM = "HAZMON_DEAD"
DEAD_PREFIX = "hzdead"
#: The leases of partitions (and the workers' presence).
LEASE_BUCKET = "hazmon_central_leases"
#: How long the stream keeps readings [s]: the 8 h a takeover replays, and a margin.
RETENTION_S = 12 * 3600.0
#: How far back a takeover replays a partition to restore its evaluator [s].
REPLAY_S = 8 * 3600.0


def partition_subject(partition: int) -> str:
    """The subjects of one partition."""
    return f"{PARTITIONED_PREFIX}.{partition}.>"


def consumer_name(partition: int) -> str:
    """The durable consumer of one partition."""
    return f"partition-{partition}"


def confirm_subject(site: str, device: str, channel: str) -> str:
    """The core subject a channel's confirmations go to (the MQTT topic
    ``hazmon-confirm/<site>/<device>/<channel>``)."""
    return f"{CONFIRM_PREFIX}.{site}.{device}.{channel}"


def split_subject(subject: str) -> tuple[int, str, str, str] | None:
    """(partition, site, device, channel) of a partitioned subject; None if not one."""
    parts = subject.split(".")
    if len(parts) != 5 or parts[0] != PARTITIONED_PREFIX or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2], parts[3], parts[4]


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """The loopback ports of one cluster node."""

    name: str
    client: int
    cluster: int
    mqtt: int


def server_config(
    node: NodeAddress, peers: list[NodeAddress], store_dir: Path, partitions: int
) -> str:
    """A nats-server config for one node of a cluster with the MQTT gateway on.

    Parameters
    ----------
    node
        This node; ``peers`` all nodes (this one may be among them).
    store_dir
        JetStream's files.
    partitions
        The number of partitions of the subject mapping (the same on every node).
    """
    routes = ", ".join(
        f"nats-route://127.0.0.1:{peer.cluster}" for peer in peers if peer.name != node.name
    )
    mapping = (
        f"{PARTITIONED_PREFIX}.{{{{partition({partitions},1,2,3)}}}}."
        "{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}"
    )
    return (
        f"server_name: {node.name}\n"
        f"listen: 127.0.0.1:{node.client}\n"
        f'jetstream {{ store_dir: "{store_dir}" }}\n'
        f"cluster {{ name: hazmon, listen: 127.0.0.1:{node.cluster}, routes: [{routes}] }}\n"
        # The gateway's own state (sessions, QoS 1 messages in flight) replicated too.
        f"mqtt {{ listen: 127.0.0.1:{node.mqtt}, stream_replicas: 3 }}\n"
        f'mappings = {{ "hazmon.*.*.*": "{mapping}" }}\n'
    )
