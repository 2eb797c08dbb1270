"""Bring a broker's durable queues to what the code declares: quorum queues with the configured
delivery limit and dead-letter route (dependencies/queues.py).

  python -m scripts.migrate_queues [--amqp-uri URI] [--dry-run]      (run by `make migrate`)

RabbitMQ cannot change a queue's type or arguments in place: a declaration with other arguments
fails with PRECONDITION_FAILED and the consumer never starts. For every queue the code declares
as a quorum queue (the event handlers of every service, analytics.ingest):
- absent, or present with the same arguments: nothing to do;
- present with other arguments (a classic queue of an older version, another
  AMQP_DELIVERY_LIMIT) and empty: deleted (RabbitMQ's if-empty delete, so a message arriving
  meanwhile keeps it) and declared again as the code declares it, with its binding, so no event
  published after this step is missed;
- present with other arguments and holding messages: left alone and reported (exit 1). Let the old
  consumers drain it first (docs/operations.md, "RabbitMQ").
Run it with the consumers of the old version stopped: `make run` migrates before it starts them.
"""

import argparse
import os
import sys
from dataclasses import dataclass

from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Connection, Queue
from nameko.standalone.events import get_event_exchange

from dependencies.ingest_queue import INGEST_QUEUE_NAME, ingest_entities
from dependencies.queues import quorum_arguments
from kernel.config import load_config


@dataclass(frozen=True)
class DurableQueue:
    name: str
    owner: str
    source_service: str | None = None  # event queues: bound to <source>.events by event type
    event_type: str | None = None

    def kombu_queue(self, config: dict) -> Queue:
        arguments = quorum_arguments(self.name, self.owner, config)
        if self.name == INGEST_QUEUE_NAME:  # bound to its exchange again when replaced
            return ingest_entities({**config, "DECLARE_EVENT_EXCHANGES": True})[1]
        if self.source_service is None:
            return Queue(self.name, durable=True, queue_arguments=arguments)
        return Queue(
            self.name,
            exchange=get_event_exchange(self.source_service, config),
            routing_key=self.event_type,
            durable=True,
            queue_arguments=arguments,
        )


def durable_queues() -> list[DurableQueue]:
    """Every quorum queue the services' code declares."""
    from dependencies.batch_consumer import BatchConsumer
    from dependencies.event_handlers import DurableEventHandler, event_queue_name
    from scripts.processes import PROCESSES, entrypoints

    found: dict[str, DurableQueue] = {}
    for process in PROCESSES:
        service_class = process.service_class()
        if service_class is None:
            continue
        owner = service_class.name
        for method, entrypoint in entrypoints(service_class):
            if isinstance(entrypoint, DurableEventHandler):
                source, event_type = entrypoint.source_service, entrypoint.event_type
                name = event_queue_name(source, event_type, owner, method)
                found[name] = DurableQueue(name, owner, source, event_type)
            elif isinstance(entrypoint, BatchConsumer):
                queue_owner = entrypoint.owner or owner  # whose dead letters it names
                found[entrypoint.queue_name] = DurableQueue(entrypoint.queue_name, queue_owner)
    return sorted(found.values(), key=lambda queue: queue.name)


def migrate_queue(connection: Connection, queue: DurableQueue, config: dict, dry_run: bool) -> str:
    """One of: absent, current, replaced, would replace, blocked (N messages)."""
    try:
        _, messages, _ = connection.channel().queue_declare(queue.name, passive=True)
    except NotFound:
        return "absent"
    try:
        queue.kombu_queue(config)(connection.channel()).declare()
        return "current"
    except PreconditionFailed:
        pass
    if messages:
        return f"blocked ({messages} messages)"
    if dry_run:
        return "would replace"
    try:
        connection.channel().queue_delete(queue.name, if_empty=True)
    except PreconditionFailed:
        return "blocked (a message arrived)"
    queue.kombu_queue(config)(connection.channel()).declare()
    return "replaced"


def migrate(amqp_uri: str, config: dict, dry_run: bool = False) -> dict[str, str]:
    outcomes = {}
    with Connection(amqp_uri) as connection:
        connection.connect()
        for queue in durable_queues():
            outcomes[queue.name] = migrate_queue(connection, queue, config, dry_run)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-uri", default=None, help="default: AMQP_URI or config.yml")
    parser.add_argument("--dry-run", action="store_true", help="report, change nothing")
    args = parser.parse_args(argv)
    config = load_config()
    amqp_uri = args.amqp_uri or os.environ.get("AMQP_URI") or config["AMQP_URI"]
    outcomes = migrate(amqp_uri, config, args.dry_run)
    for name, outcome in outcomes.items():
        if outcome not in ("absent", "current"):
            print(f"{name}: {outcome}", file=sys.stderr)
    blocked = [name for name, outcome in outcomes.items() if outcome.startswith("blocked")]
    print(f"queues: {len(outcomes)} quorum queues checked, {len(blocked)} blocked", file=sys.stderr)
    if blocked:
        print(
            "a queue with other arguments still holds messages: start the previous version's"
            " consumers until it is empty, then run this again (docs/operations.md)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
