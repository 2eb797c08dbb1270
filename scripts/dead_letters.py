"""Inspect and replay dead-lettered messages (`<queue>.dead`, dependencies/queues.py).

  python -m scripts.dead_letters list                    queues with dead letters, and counts
  python -m scripts.dead_letters show QUEUE [--limit N]  bodies and why (x-death), left in place
  python -m scripts.dead_letters replay QUEUE [--limit N]  back onto QUEUE, oldest first

QUEUE is the original queue's name (e.g. analytics.ingest). `replay` publishes each message to QUEUE
through the default exchange, persistent and publisher-confirmed, with its headers (the x-death
history is kept, so a message that fails again shows how often it was replayed), and removes it
from `<queue>.dead` only after the confirm: a crash in between replays it twice, which the
idempotent consumers absorb. Replay after fixing the cause, or the message comes back to `.dead`
after AMQP_DELIVERY_LIMIT more attempts. Needs an account that may read `<queue>.dead` and write
to the default exchange: an operator's, not a service's (AMQP_URI, or --amqp-uri).
"""

import argparse
import json
import os
import sys
from typing import Any

from amqp.exceptions import NotFound
from kombu import Connection, Queue

from dependencies.queues import dead_letter_queue_name
from kernel.config import load_config


def dead_counts(connection: Connection, queues: list[str]) -> dict[str, int]:
    counts = {}
    for queue in queues:
        try:
            name = dead_letter_queue_name(queue)
            declared = connection.channel().queue_declare(name, passive=True)
        except NotFound:
            continue
        counts[queue] = declared.message_count
    return counts


def body_text(body: bytes | str) -> str:
    return body if isinstance(body, str) else body.decode("utf-8", "replace")


def show(connection: Connection, queue: str, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` dead letters (taken, then returned to `.dead` unacknowledged)."""
    channel = connection.channel()
    dead = Queue(dead_letter_queue_name(queue), channel=channel, no_declare=True)
    shown, held = [], []
    while len(shown) < limit and (message := dead.get(no_ack=False)) is not None:
        held.append(message)
        deaths = message.headers.get("x-death") or [{}]
        shown.append(
            {
                "reason": deaths[0].get("reason"),
                "deaths": sum(int(death.get("count", 1)) for death in deaths),
                "body": body_text(message.body),
            }
        )
    channel.close()  # returns the held messages to `.dead`
    return shown


def replay(connection: Connection, queue: str, limit: int) -> int:
    channel = connection.channel()
    dead = Queue(dead_letter_queue_name(queue), channel=channel, no_declare=True)
    producer = connection.Producer(channel=connection.channel())
    moved = 0
    while moved < limit and (message := dead.get(no_ack=False)) is not None:
        producer.publish(
            message.body,
            routing_key=queue,
            exchange="",
            headers=message.headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=2,
            mandatory=True,
        )
        message.ack()
        moved += 1
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-uri", default=None, help="default: AMQP_URI or config.yml")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list")
    for name in ("show", "replay"):
        command = commands.add_parser(name)
        command.add_argument("queue")
        command.add_argument("--limit", type=int, default=100 if name == "show" else 10**9)
    args = parser.parse_args(argv)
    amqp_uri = args.amqp_uri or os.environ.get("AMQP_URI") or load_config()["AMQP_URI"]
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        if args.command == "list":
            from scripts.migrate_queues import durable_queues

            counts = dead_counts(connection, [queue.name for queue in durable_queues()])
            for queue, count in counts.items():
                if count:
                    print(f"{count:8d}  {dead_letter_queue_name(queue)}")
            print(f"{sum(counts.values())} dead letters in {len(counts)} queues", file=sys.stderr)
        elif args.command == "show":
            for item in show(connection, args.queue, args.limit):
                print(json.dumps(item))
        else:
            moved = replay(connection, args.queue, args.limit)
            print(f"replayed {moved} messages onto {args.queue}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
