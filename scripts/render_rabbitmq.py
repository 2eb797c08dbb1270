"""RabbitMQ accounts for deployments: one user per process kind, limited to what the code of that
process declares, publishes and consumes (derived from its Nameko entrypoints and dependency
providers, scripts/processes.py), on the vhost `influencer`, with no guest account.

  python -m scripts.render_rabbitmq --output definitions.json
      definitions for RabbitMQ's load_definitions (compose's one-shot `broker-config`); each
      user's password comes from RABBITMQ_<PROCESS>_PASSWORD (make compose-env writes them)
  python -m scripts.render_rabbitmq --k8s-secrets
      the `rabbitmq-definitions` and `rabbitmq-accounts` Secrets with fresh random passwords, on
      stdout (kubectl apply -f -)
  python -m scripts.render_rabbitmq --permissions
      the permission table (docs/security.md quotes it)

What the permissions mean, resource by resource (RabbitMQ checks configure for declare/delete,
write for publish and for the queue of a bind, read for consume and for the exchange of a bind):
- Events: nameko's @event_handler("campaigns", ...) binds its queue to the exchange
  `campaigns.events`. Only the campaigns account may write to `campaigns.events`, so an event
  any service consumes as campaigns' can only have been published by campaigns. Consumers need
  configure on the exchange (nameko declares it before binding) and read on it (to bind), never
  write; topic permissions limit the keys they may bind to the event types they handle.
- RPC: every account may publish to `nameko-rpc` only with routing keys `<service>.<method>`
  of the services it calls (topic permission) plus reply keys (uuids); a service may bind
  `rpc-<itself>` only (`<itself>.*`) and reply queues `rpc.reply-<itself>-<uuid>`. So a
  compromised users process cannot call auth, and nobody but auth can consume auth's calls.
- Declared by the definitions, not by the processes (DECLARE_EVENT_EXCHANGES false): the event
  exchanges and analytics' ingestion exchange, queue and binding. So no account has configure
  (declare or delete) on any of them, only on its own queues and on nameko-rpc.
- Nobody publishes through the default exchange (RabbitMQ authorises it by exchange only, so
  write on it reaches every queue): ingestion batches and clicks go through the direct
  exchange `analytics.ingest.exchange` (dependencies/ingest_queue.py), bound to the ingestion
  queue only.
- Limit: every account has configure on `nameko-rpc`, which nameko declares unconditionally at
  start (docs/security.md).
- Dead letters: a consumer of a quorum queue (dependencies/queues.py) declares and binds its own
  dead-letter exchange `<service>.dead-letter` and the `<queue>.dead` queues of its queues; a
  process declaring such a queue (the gateway declares `analytics.ingest`) needs write on the
  owner's dead-letter exchange, which RabbitMQ checks at the declaration. Nobody reads a `.dead`
  queue but an operator (docs/operations.md).
"""

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dependencies.ingest_queue import INGEST_EXCHANGE_NAME, INGEST_QUEUE_NAME, INGEST_QUEUE_OWNER
from dependencies.queues import dead_letter_exchange_name, dead_letter_queue_name, quorum_arguments
from kernel.config import load_config
from scripts.processes import PROCESSES, ProcessSpec, entrypoints, qualified_name

VHOST = "influencer"
RPC_EXCHANGE = "nameko-rpc"
UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STANDALONE_PROXY = "standalone_rpc_proxy"  # nameko.standalone.rpc's reply queue owner name


@dataclass
class BrokerUse:
    """What one process does on the broker, as resource names and routing keys."""

    service: str
    rpc_server: bool = False
    rpc_clients: set[str] = field(default_factory=set)  # reply-queue owner names
    calls: set[str] = field(default_factory=set)  # services it sends RPC to
    publishes_events: bool = False  # to <service>.events
    handlers: list[tuple[str, str, str]] = field(default_factory=list)  # (source, type, queue)
    queues_declared: set[str] = field(default_factory=set)
    queues_consumed: set[str] = field(default_factory=set)
    ingest_publisher: bool = False  # to analytics.ingest.exchange
    # (owner, queue name) of the quorum queues it consumes: it declares the dead-letter exchange
    # `<owner>.dead-letter` and `<queue>.dead`, and binds them
    dead_letters: set[tuple[str, str]] = field(default_factory=set)
    # owners whose dead-letter exchange its queue declarations name (RabbitMQ checks write
    # permission on a queue's dead-letter exchange when the queue is declared)
    dead_letter_writes: set[str] = field(default_factory=set)


def event_queue_pattern(
    service: str, source: str, event_type: str, method: str, broadcast: bool
) -> str:
    base = re.escape(f"evt-{source}-{event_type}--{service}.{method}")
    return base + ("-.+" if broadcast else "")


def broker_use(process: ProcessSpec) -> BrokerUse:
    from nameko.events import BROADCAST, EventDispatcher, EventHandler
    from nameko.messaging import Publisher
    from nameko.rpc import Rpc, RpcProxy

    from dependencies.batch_consumer import BatchConsumer
    from dependencies.event_handlers import DurableEventHandler, event_queue_name
    from dependencies.ingest_queue import IngestPublisher
    from dependencies.outbox import OutboxRelay
    from scripts.processes import dependency_providers

    if process.name == "ws":
        from ws.fanout import SOURCE, fanout_service

        service_class: Any = fanout_service(None)  # type: ignore[arg-type]
        use = BrokerUse(process.rpc_service or "ws_fanout")
        use.publishes_events = True  # ws.fanout.EventPublisher: typing, presence
        use.service = SOURCE  # its events exchange is ws.events
        owner = service_class.name
        use.rpc_clients.add(STANDALONE_PROXY)  # ws.rpc.RpcPool: ClusterRpcProxy
        use.calls.update(process.rpc_calls)
    else:
        service_class = process.service_class()
        assert service_class is not None
        owner = service_class.name
        use = BrokerUse(owner)
    for name, entrypoint in entrypoints(service_class):
        if isinstance(entrypoint, Rpc):
            use.rpc_server = True
        elif isinstance(entrypoint, EventHandler):
            broadcast = entrypoint.handler_type == BROADCAST
            queue = event_queue_pattern(
                owner, entrypoint.source_service, entrypoint.event_type, name, broadcast
            )
            use.handlers.append((entrypoint.source_service, entrypoint.event_type, queue))
            if isinstance(entrypoint, DurableEventHandler):
                queue_name = event_queue_name(
                    entrypoint.source_service, entrypoint.event_type, owner, name
                )
                use.dead_letters.add((owner, queue_name))
                use.dead_letter_writes.add(owner)
        elif isinstance(entrypoint, BatchConsumer):
            queue_owner = entrypoint.owner or owner  # whose dead-letter exchange it names
            use.queues_declared.add(re.escape(entrypoint.queue_name))
            use.queues_consumed.add(re.escape(entrypoint.queue_name))
            use.dead_letters.add((queue_owner, entrypoint.queue_name))
            use.dead_letter_writes.add(queue_owner)
        elif qualified_name(entrypoint) not in (
            "nameko.timer.Timer",
            "gateway_http.edge.Route",
            "nameko.web.handlers.HttpRequestHandler",
        ):
            raise ValueError(f"{process.name}: classify entrypoint {qualified_name(entrypoint)}")
    for provider in dependency_providers(service_class).values():
        if isinstance(provider, RpcProxy):
            use.calls.add(provider.target_service)
            use.rpc_clients.add(owner)
        elif isinstance(provider, EventDispatcher | OutboxRelay):
            use.publishes_events = True
        elif isinstance(provider, IngestPublisher):
            use.ingest_publisher = True
            use.dead_letter_writes.add(INGEST_QUEUE_OWNER)  # the queue names its dead letters
        elif isinstance(provider, Publisher):
            # The default exchange reaches every queue: RabbitMQ can't limit its routing keys.
            raise ValueError(f"{process.name}: classify publisher {qualified_name(provider)}")
    return use


def alternatives(patterns: list[str]) -> str:
    unique = sorted(set(patterns))
    return "^(" + "|".join(unique) + ")$" if unique else "^$"


def permissions(use: BrokerUse) -> tuple[dict[str, str], list[dict[str, str]]]:
    """(vhost permission regexes, topic permissions) for one process."""
    configure: list[str] = []
    write: list[str] = []
    read: list[str] = []
    rpc_write_keys: list[str] = []
    rpc_read_keys: list[str] = []
    if use.rpc_server or use.rpc_clients:
        configure.append(re.escape(RPC_EXCHANGE))
        read.append(re.escape(RPC_EXCHANGE))  # to bind its queues
    if use.rpc_server:
        queue = re.escape(f"rpc-{use.service}")
        configure.append(queue)
        write.append(queue)
        read.append(queue)
        write.append(re.escape(RPC_EXCHANGE))  # replies
        rpc_write_keys.append(UUID)
        rpc_read_keys.append(re.escape(f"{use.service}.*"))
    for client in sorted(use.rpc_clients):
        queue = re.escape(f"rpc.reply-{client}-") + UUID
        configure.append(queue)
        write.append(queue)
        read.append(queue)
        rpc_read_keys.append(UUID)
    if use.calls:
        write.append(re.escape(RPC_EXCHANGE))
        rpc_write_keys.append("(" + "|".join(sorted(use.calls)) + r")\.[A-Za-z0-9_]+")
    # No configure on any exchange but nameko-rpc: the definitions declare the event exchanges
    # and the ingestion exchange (processes run with DECLARE_EVENT_EXCHANGES false), and
    # configure would also allow deleting them.
    own_events = re.escape(f"{use.service}.events")
    if use.publishes_events:
        write.append(own_events)
    topic: dict[str, dict[str, list[str]]] = {}
    for source, event_type, queue in use.handlers:
        exchange = f"{source}.events"
        configure.append(queue)
        write.append(queue)
        read += [re.escape(exchange), queue]
        topic.setdefault(exchange, {"write": [], "read": []})["read"].append(re.escape(event_type))
    if use.publishes_events:
        topic.setdefault(f"{use.service}.events", {"write": [], "read": []})["write"].append(".+")
    for queue in use.queues_declared:
        configure.append(queue)
    for owner, queue in sorted(use.dead_letters):
        exchange = re.escape(dead_letter_exchange_name(owner))
        dead = re.escape(dead_letter_queue_name(queue))
        configure += [exchange, dead]
        write.append(dead)  # to bind it
        read.append(exchange)  # to bind to it
    for owner in sorted(use.dead_letter_writes):
        write.append(re.escape(dead_letter_exchange_name(owner)))
    for queue in use.queues_consumed:
        read.append(queue)
    if use.ingest_publisher:
        write.append(re.escape(INGEST_EXCHANGE_NAME))
    if rpc_write_keys or rpc_read_keys:
        topic[RPC_EXCHANGE] = {"write": rpc_write_keys, "read": rpc_read_keys}
    vhost = {
        "configure": alternatives(configure),
        "write": alternatives(write),
        "read": alternatives(read),
    }
    topics = [
        {
            "exchange": exchange,
            "write": alternatives(keys["write"]),
            "read": alternatives(keys["read"]),
        }
        for exchange, keys in sorted(topic.items())
    ]
    return vhost, topics


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = salt if salt is not None else secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def broker_processes() -> list[ProcessSpec]:
    return [process for process in PROCESSES if "rabbitmq" in process.stores]


def password_variable(process: ProcessSpec) -> str:
    return f"RABBITMQ_{process.name.upper().replace('-', '_')}_PASSWORD"


def exchanges() -> list[str]:
    """The topic exchanges, pre-declared in the definitions as nameko declares them (durable)."""
    uses = [broker_use(p) for p in broker_processes()]
    return [
        *sorted({f"{use.service}.events" for use in uses if use.publishes_events}),
        RPC_EXCHANGE,
    ]


def ingest_topology() -> dict[str, list[dict[str, Any]]]:
    """The ingestion exchange, queue and binding (dependencies/ingest_queue.py), as the
    definitions declare them."""
    return {
        "exchanges": [
            {
                "name": INGEST_EXCHANGE_NAME,
                "vhost": VHOST,
                "type": "direct",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
        ],
        "queues": [
            {
                "name": INGEST_QUEUE_NAME,
                "vhost": VHOST,
                "durable": True,
                "auto_delete": False,
                # as its consumer and publishers declare it (the same config: same limit)
                "arguments": quorum_arguments(INGEST_QUEUE_NAME, INGEST_QUEUE_OWNER, load_config()),
            }
        ],
        "bindings": [
            {
                "source": INGEST_EXCHANGE_NAME,
                "vhost": VHOST,
                "destination": INGEST_QUEUE_NAME,
                "destination_type": "queue",
                "routing_key": INGEST_QUEUE_NAME,
                "arguments": {},
            }
        ],
    }


def definitions(passwords: dict[str, str]) -> dict[str, Any]:
    users, vhost_permissions, topic_permissions = [], [], []
    for process in broker_processes():
        use = broker_use(process)
        vhost, topics = permissions(use)
        users.append(
            {
                "name": process.name,
                "password_hash": password_hash(passwords[process.name]),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        )
        vhost_permissions.append({"user": process.name, "vhost": VHOST, **vhost})
        topic_permissions += [{"user": process.name, "vhost": VHOST, **t} for t in topics]
    return {
        "vhosts": [{"name": VHOST}],
        "users": users,
        "permissions": vhost_permissions,
        "topic_permissions": topic_permissions,
        # Pre-declared as nameko declares them (durable topic), so bindings never wait for the
        # publisher's first start.
        "exchanges": [
            {
                "name": name,
                "vhost": VHOST,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name in exchanges()
        ]
        + ingest_topology()["exchanges"],
        "queues": ingest_topology()["queues"],
        "bindings": ingest_topology()["bindings"],
    }


def amqp_uri(process: ProcessSpec, password: str, host: str = "rabbitmq") -> str:
    return f"pyamqp://{process.name}:{password}@{host}:5672/{VHOST}"


def k8s_secrets(namespace: str) -> list[dict[str, Any]]:
    passwords = {p.name: secrets.token_urlsafe(24) for p in broker_processes()}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "rabbitmq-definitions", "namespace": namespace},
            "type": "Opaque",
            "stringData": {"definitions.json": json.dumps(definitions(passwords), indent=1)},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "rabbitmq-accounts", "namespace": namespace},
            "type": "Opaque",
            "stringData": {p.name: amqp_uri(p, passwords[p.name]) for p in broker_processes()},
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path)
    parser.add_argument("--k8s-secrets", action="store_true")
    parser.add_argument("--namespace", default="influencer")
    parser.add_argument("--permissions", action="store_true")
    args = parser.parse_args(argv)
    if args.k8s_secrets:
        yaml.safe_dump_all(k8s_secrets(args.namespace), sys.stdout, sort_keys=False)
        return 0
    if args.permissions:
        for process in broker_processes():
            vhost, topics = permissions(broker_use(process))
            print(json.dumps({"user": process.name, **vhost, "topic": topics}, indent=1))
        return 0
    missing = [
        password_variable(p) for p in broker_processes() if not os.environ.get(password_variable(p))
    ]
    if missing:
        print(f"set {', '.join(missing)} (make compose-env)", file=sys.stderr)
        return 1
    passwords = {p.name: os.environ[password_variable(p)] for p in broker_processes()}
    text = json.dumps(definitions(passwords), indent=1)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
