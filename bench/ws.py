"""Benchmark: one chat hub (ws.server) with 1,000 and 5,000 concurrent connections, against a bare
eventlet WebSocket echo server (bench/ws_floor.py) measured in the same run.

Per tier and target:
- handshake rate: N connections opened by 100 concurrent openers, N / elapsed;
- memory per connection: the server process's RSS delta (after the N are open) / N; and the
  marginal cost, which leaves out what a process grows once whatever its load (RPC and Redis
  pools, allocator arenas): (RSS with N open - RSS with the first N/5 open) / (N - N/5);
- delivery latency p50/p90/p99 at a fixed send rate (open loop: sends are scheduled on the clock,
  never waiting for earlier answers), measured once the hub has finished the presence work of
  the new sockets (every queue of its vhost empty; `presence_settle_s` says how long that took).
  Hub: connections are pairs (brand, creator) sharing a conversation; the brand sends, the
  latency is until the creator's socket has the message (ws -> messaging RPC -> store ->
  RabbitMQ broadcast -> ws -> socket). Floor: the echo back to the sender. `fanout_only`: the
  hub's own share, messaging's `message_sent` events published at the same rate straight to the
  broker (broadcast queue -> hub -> socket), without messaging and its store.

`python -m bench.ws` (or `make bench`) runs messaging and ws (its own RabbitMQ vhost, Redis db,
embedded store in a temporary directory, free ports), tokens minted with the local signing key,
and writes bench/results/ws.json and ws.png. It raises RLIMIT_NOFILE for itself and its children.
It asserts nothing about time.
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from eventlet.websocket import RFC6455WebSocket  # noqa: E402

from bench.gateway import machine  # noqa: E402
from kernel.config import PROJECT_ROOT, load_config  # noqa: E402
from kernel.tokens import TokenCodec  # noqa: E402
from scripts.isolated_stack import Scratch, free_port, isolated_stack  # noqa: E402
from scripts.stack import NAMEKO, Process, ws_process  # noqa: E402
from tests.chat_seed import message_sent_event, seed_conversations  # noqa: E402

RESULTS = PROJECT_ROOT / "bench" / "results" / "ws.json"
SCRATCH = Scratch.from_env("BENCH_WS", "bench_ws_chat", redis_db=9)
VHOST = SCRATCH.vhost
OPENERS = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiers", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--rate", type=float, default=500.0, help="messages per second, open loop")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of sending")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--embedded-sync",
        choices=("FULL", "OFF"),
        default="FULL",
        help="SQLite synchronous for the embedded store's message writes: OFF (not durable "
        "against a machine crash) measures what its fsyncs cost, never the goal",
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        choices=("ws", "floor"),
        default=["ws", "floor"],
        help="what to measure (both for a ratio; one while iterating)",
    )
    parser.add_argument(
        "--settle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait for the connection storm's presence work before measuring latency "
        "(--no-settle measures delivery during a reconnect storm)",
    )
    return parser.parse_args(argv)


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1] * 1000, 2)}


class BenchClient:
    """A minimal green WebSocket client (eventlet's RFC 6455 framing in client mode)."""

    def __init__(self, port: int, token: str | None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            response += chunk
        if not response.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(response.split(b"\r\n", 1)[0].decode())
        sock.settimeout(None)
        self.ws = RFC6455WebSocket(sock, {}, client=True)

    def send(self, frame: dict[str, Any]) -> None:
        self.ws.send(json.dumps(frame))

    def frames(self):
        while True:
            raw = self.ws.wait()
            if raw is None:
                return
            yield json.loads(raw)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.ws.close()


def open_all(
    port: int, tokens: list[str | None]
) -> tuple[list[BenchClient | None], float, dict[str, int]]:
    clients: list[BenchClient | None] = [None] * len(tokens)
    failures: dict[str, int] = {}
    pool = eventlet.GreenPool(OPENERS)

    def open_one(index: int) -> None:
        try:
            clients[index] = BenchClient(port, tokens[index])
        except (OSError, ConnectionError) as exc:
            reason = f"{type(exc).__name__}: {exc}"[:120]
            failures[reason] = failures.get(reason, 0) + 1

    started = time.perf_counter()
    for index in range(len(tokens)):
        pool.spawn_n(open_one, index)
    pool.waitall()
    return clients, time.perf_counter() - started, failures


def measure_latency(
    clients: list[BenchClient | None],
    chat: bool,
    pairs: list[str],
    rate: float,
    duration: float,
    publish: Any = None,
) -> dict[str, Any]:
    """`publish(conversation_id, sender, recipient, key)`, when given, puts messaging's
    `message_sent` event on the broker instead of a socket sending the message: the hub's own
    share of delivery (broadcast queue -> hub -> socket), without messaging and its store."""
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def read(client: BenchClient) -> None:
        try:
            for frame in client.frames():
                key = frame.get("client_msg_id") if chat else frame.get("id")
                if chat and frame.get("type") == "error":
                    errors[frame["code"]] = errors.get(frame["code"], 0) + 1
                if chat and frame.get("type") != "message":
                    continue
                started = sent_at.pop(key, None) if key else None
                if started is not None:
                    latencies.append(time.perf_counter() - started)
        except (OSError, ValueError):
            return

    readers = [eventlet.spawn(read, client) for client in clients if client is not None]
    live = [i for i in range(0, len(clients) - 1, 2) if clients[i] and clients[i + 1]]
    total = int(rate * duration)
    begin = time.perf_counter()
    for n in range(total):
        delay = begin + n / rate - time.perf_counter()
        if delay > 0:
            eventlet.sleep(delay)
        pair = live[n % len(live)]
        key = uuid.uuid4().hex
        sent_at[key] = time.perf_counter()
        sender = clients[pair]
        assert sender is not None
        if publish is not None:
            eventlet.spawn_n(publish, pairs[pair // 2], pair, key)
            continue
        if chat:
            frame = {
                "type": "send",
                "conversation_id": pairs[pair // 2],
                "client_msg_id": key,
                "body": "bench",
            }
        else:
            frame = {"type": "echo", "id": key}
        eventlet.spawn_n(sender.send, frame)
    achieved = total / (time.perf_counter() - begin)
    deadline = time.perf_counter() + 15
    while sent_at and time.perf_counter() < deadline:
        eventlet.sleep(0.1)
    for reader in readers:
        reader.kill()
    for client in clients:
        if client is not None:  # the kill ended eventlet's frame generator: a fresh one
            client.ws.iterator = client.ws._iter_frames()
    return {
        "sent": total,
        "delivered": len(latencies),
        "lost_or_late_15s": len(sent_at),
        "error_frames": errors,
        "achieved_send_rate": round(achieved, 1),
        "latency_ms": percentiles(latencies),
    }


def wait_for_broker_backlog(vhost: str, timeout: float = 300.0) -> float:
    """Seconds until every queue of the vhost is empty: each socket just opened asks messaging
    for its presence partners and announces itself (presence events through the hub's broadcast
    queue); latency is measured once that storm has passed."""
    import requests

    from scripts.isolated_stack import RABBIT_API

    started = time.perf_counter()
    empty_in_a_row = 0
    # the management API refreshes queue counts every 5 s: insist on 8 s of empty queues
    while time.perf_counter() - started < timeout and empty_in_a_row < 5:
        queues = requests.get(f"{RABBIT_API}/queues/{vhost}", timeout=10).json()
        pending = sum(q.get("messages", 0) + q.get("messages_unacknowledged", 0) for q in queues)
        empty_in_a_row = empty_in_a_row + 1 if pending == 0 else 0
        eventlet.sleep(2.0)
    return round(time.perf_counter() - started, 1)


class FanoutPublisher:
    """Publishes `messaging.message_sent` as messaging would, from a pool of publishers."""

    def __init__(self, users: list[tuple[str, str]], amqp_uri: str) -> None:
        from nameko.amqp.publish import Publisher
        from nameko.standalone.events import get_event_exchange

        config = {**load_config(), "AMQP_URI": amqp_uri}
        self.users = users
        self.exchange = get_event_exchange("messaging", config)
        self.publisher = Publisher(config["AMQP_URI"], declare=[self.exchange])

    def publish(self, conversation_id: str, pair: int, key: str) -> None:
        brand, creator = self.users[pair // 2]
        payload = message_sent_event(conversation_id, brand, creator, message_id=key)
        self.publisher.publish(payload, exchange=self.exchange, routing_key="message_sent")


@contextlib.contextmanager
def client_gc_paused() -> Iterator[None]:
    """This process's cyclic garbage collector off while it measures. Holding thousands of
    sockets, a full collection stopped its readers for 160-820 ms at 5,000 (gc callbacks,
    2026-12-02), which counted as the server's delivery latency. Reference counting still frees
    what it can; the cycles made meanwhile wait for the collection after."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def run_tier(
    name: str,
    port: int,
    pid: int,
    tokens: list[str | None],
    pairs: list[str],
    args,
    chat: bool,
    users: list[tuple[str, str]] = (),
) -> dict[str, Any]:
    eventlet.sleep(2)
    before = rss_bytes(pid)
    print(f"  {name}: opening {len(tokens)} connections", flush=True)
    first = len(tokens) // 5
    clients, elapsed, failures = open_all(port, tokens[:first])
    if chat and args.settle:
        wait_for_broker_backlog(VHOST)
    eventlet.sleep(3)
    at_first = rss_bytes(pid)
    rest, rest_elapsed, rest_failures = open_all(port, tokens[first:])
    clients += rest
    elapsed += rest_elapsed
    for reason, count in rest_failures.items():
        failures[reason] = failures.get(reason, 0) + count
    settle = wait_for_broker_backlog(VHOST) if chat and args.settle else 0.0
    eventlet.sleep(3)  # let allocations settle before reading RSS
    after = rss_bytes(pid)
    opened = len(tokens) - sum(failures.values())
    print(f"  {name}: {opened} open in {elapsed:.1f}s; sending {args.rate}/s", flush=True)
    fanout = None
    with client_gc_paused():
        if chat:  # first: a backlog left by the full path must not delay it
            print(f"  {name}: fan-out only, {args.rate}/s", flush=True)
            publish = FanoutPublisher(users, args.amqp_uri)
            fanout = measure_latency(
                clients, chat, pairs, args.rate, args.duration, publish.publish
            )
        latency = measure_latency(clients, chat, pairs, args.rate, args.duration)
    if fanout is not None:
        latency["fanout_only"] = fanout
    for client in clients:
        if client is not None:
            client.close()
    return {
        "connections": opened,
        "handshake_failures": failures,
        "handshakes_per_second": round(opened / elapsed, 1),
        "presence_settle_s": settle,
        "rss_mb_before": round(before / 2**20, 1),
        "rss_mb_with_connections": round(after / 2**20, 1),
        "memory_per_connection_kb": round((after - before) / max(opened, 1) / 1024, 1),
        "marginal_memory_per_connection_kb": round(
            (after - at_first) / max(len(tokens) - first, 1) / 1024, 1
        ),
        **latency,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tiers = list(report["tiers"])
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    width = 0.38
    for offset, target in ((-width / 2, "ws"), (width / 2, "floor")):
        xs = [i + offset for i in range(len(tiers))]
        rows = [report["tiers"][t][target] for t in tiers]
        axes[0].bar(xs, [r["handshakes_per_second"] for r in rows], width, label=target)
        axes[1].bar(xs, [r["memory_per_connection_kb"] for r in rows], width, label=target)
        axes[1].scatter(
            xs,
            [r["marginal_memory_per_connection_kb"] for r in rows],
            marker="_",
            s=400,
            color="black",
            zorder=3,
        )
        axes[2].bar(xs, [r["latency_ms"]["p50"] or 0 for r in rows], width, label=f"{target} p50")
        axes[2].scatter(
            xs,
            [r["latency_ms"]["p99"] or 0 for r in rows],
            marker="_",
            s=400,
            color="black",
            zorder=3,
        )
    titles = (
        "handshakes / s",
        "memory per connection KiB (bar; marginal -)",
        "delivery latency ms (p50 bar, p99 -)",
    )
    for axis, title in zip(axes, titles, strict=True):
        axis.set_xticks(range(len(tiers)), [f"{t} conns" for t in tiers])
        axis.set_title(title)
        axis.legend()
    figure.suptitle(
        f"ws hub vs bare eventlet echo ({report['settings']['rate']:g} msg/s open loop)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_file_limit()
    needed = max(args.tiers) * 2 + 500
    if nofile < needed:
        print(f"RLIMIT_NOFILE is {nofile}; {needed} needed for {max(args.tiers)} connections")
        return 1
    mongo_dir = tempfile.mkdtemp(prefix="bench-ws-mongo-")
    ws_port, floor_port = free_port(), free_port()
    env = {
        "MONGO_URL": f"embedded://{mongo_dir}"
        + ("" if args.embedded_sync == "FULL" else f"?synchronous={args.embedded_sync}"),
        "WS_MAX_CONNECTIONS": str(max(args.tiers) + 1000),
        "WS_IDLE_TIMEOUT_SECONDS": "600",
        "LOG_LEVEL": "WARNING",
    }
    config = load_config()
    codec = TokenCodec.from_config(config, signing=True)
    pair_ids, users = seed_conversations(mongo_dir, max(args.tiers) // 2)
    tokens: list[str | None] = []
    for brand, creator in users:
        for user, role in ((brand, "brand"), (creator, "creator")):
            token, _ = codec.issue_access_token(
                subject=user, role=role, session_id=str(uuid.uuid4())
            )
            tokens.append(token)

    started_at = dt.datetime.now(dt.UTC)
    machine_info = machine()
    processes = [
        Process(
            "messaging",
            [*NAMEKO, "services.messaging.service:MessagingService"],
            rpc_service="messaging",
        ),
        ws_process("ws", ws_port, free_port()),
        Process(
            "floor",
            [sys.executable, "-m", "bench.ws_floor", str(floor_port)],
            http_health=f"http://127.0.0.1:{floor_port}/healthz",
        ),
    ]
    report_tiers: dict[str, Any] = {}
    harness = isolated_stack(
        SCRATCH,
        env,
        choose=lambda _default: processes,  # the hub and its floor only, no database
        other_ports=(ws_port, floor_port),
        migrate_stores=False,
        ready_timeout=90,
    )
    try:
        with harness as running:
            args.amqp_uri = running.env["AMQP_URI"]
            for tier in sorted(args.tiers):
                print(f"tier {tier}", flush=True)
                results = {}
                for target, port, chat in (("ws", ws_port, True), ("floor", floor_port, False)):
                    if target not in args.targets:
                        continue
                    pid = running.stack.running[target].pid
                    results[target] = run_tier(
                        target, port, pid, tokens[:tier], pair_ids, args, chat, users
                    )
                if len(results) == 2:
                    results["ratio"] = {
                        key: round(results["ws"][key] / max(results["floor"][key], 0.1), 2)
                        for key in (
                            "memory_per_connection_kb",
                            "marginal_memory_per_connection_kb",
                        )
                    }
                report_tiers[str(tier)] = results
    finally:
        shutil.rmtree(mongo_dir, ignore_errors=True)

    report = {
        "benchmark": "chat hub (ws.server) vs bare eventlet WebSocket echo, one process each",
        "timestamp": started_at.isoformat(timespec="seconds"),
        "settings": {
            "rate": args.rate,
            "duration_s": args.duration,
            "settled_before_measuring": args.settle,
            "openers": OPENERS,
            "rlimit_nofile": nofile,
            "store": "embedded (montydb/sqlite)",
            "embedded_sync": args.embedded_sync,
            "client_gc": "paused while measuring (client_gc_paused)",
        },
        "machine": machine_info,
        "tiers": report_tiers,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    if set(args.targets) == {"ws", "floor"}:
        plot(report, args.output.with_suffix(".png"))
    for tier, results in report_tiers.items():
        print(f"{tier:>5} memory ws/floor: {results.get('ratio')}")
        for target in args.targets:
            row = results[target]
            print(
                f"{tier:>5} {target:>5}: {row['handshakes_per_second']:8.1f} hs/s  "
                f"{row['memory_per_connection_kb']:6.1f} KiB/conn "
                f"({row['marginal_memory_per_connection_kb']:.1f} marginal)  "
                f"p50 {row['latency_ms']['p50']} ms  p99 {row['latency_ms']['p99']} ms  "
                f"delivered {row['delivered']}/{row['sent']}"
            )
            if "fanout_only" in row:
                only = row["fanout_only"]
                print(
                    f"{tier:>5} {target:>5}  fan-out only: p50 {only['latency_ms']['p50']} ms  "
                    f"p99 {only['latency_ms']['p99']} ms  "
                    f"delivered {only['delivered']}/{only['sent']}"
                )
    print(f"-> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
