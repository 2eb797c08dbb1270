"""Is *any* instance of a Nameko service answering? `python -m scripts.health_rpc auth` calls
n.rpc.auth.health() over RabbitMQ and exits 0 only when an instance answers in time, so it proves
the broker path works end to end. An operator's check: probes ask each pod's own health port
instead (dependencies/health.py, docs/operations.md#probes).
"""

import argparse
import logging
import sys

from nameko.standalone.rpc import ClusterRpcProxy

from kernel.config import load_config


def service_is_healthy(service: str, timeout: float) -> bool:
    with ClusterRpcProxy(load_config(), timeout=timeout) as cluster:
        answer = getattr(cluster, service).health()
    return answer.get("status") == "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("service")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.getLogger("amqp").setLevel(logging.ERROR)
    try:
        healthy = service_is_healthy(args.service, args.timeout)
    except Exception as exc:
        print(f"{args.service}: unhealthy ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    print(f"{args.service}: {'ok' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
