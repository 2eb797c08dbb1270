"""The process table (deploy/processes.yml) as typed objects, and what the code says each
process uses: the stores behind its Nameko dependency providers and entrypoints, and the
RabbitMQ exchanges, queues and routing keys it declares, publishes to and consumes from.

Everything that runs the processes is generated from the table (scripts/stack.py,
scripts/render_compose.py, scripts/render_k8s.py, scripts/render_rabbitmq.py) and
tests/unit/test_process_table.py checks the table against the code.
"""

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

import yaml

from kernel.config import PROJECT_ROOT

TABLE_FILE = PROJECT_ROOT / "deploy" / "processes.yml"
STORES = ("postgres", "redis", "rabbitmq", "clickhouse", "mongodb")
# How each store is reached: the config key (environment variable) holding its address, and the
# port of the in-cluster/compose store the NetworkPolicies open.
STORE_ENV = {
    "postgres": "DATABASE_URL",
    "redis": "REDIS_URL",
    "rabbitmq": "AMQP_URI",
    "clickhouse": "CLICKHOUSE_URL",
    "mongodb": "MONGO_URL",
}
STORE_PORT = {
    "postgres": 5432,
    "redis": 6379,
    "rabbitmq": 5672,
    "clickhouse": 9000,
    "mongodb": 27017,
}


@dataclass(frozen=True)
class Scaling:
    min: int = 2
    max: int = 6
    metric: str = "cpu"  # or ws_connections
    local: int | None = None  # most `make run SCALE=N` may start; None: N
    compose: int = 1  # docker-compose services (<name>-1, <name>-2, ... when more than one)


@dataclass(frozen=True)
class Resources:
    cpu: str = "100m"
    memory: str = "192Mi"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class PostgresBudget:
    """PostgreSQL's connections and who may use them (the table's `postgres` section)."""

    database: str
    max_connections: int
    reserved: int
    pgbouncer_port: int
    pgbouncer_replicas: int


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    run: str  # "nameko module:Class" or "python module"
    stores: tuple[str, ...]
    rpc_service: str | None = None
    rpc_calls: tuple[str, ...] = ()
    metrics_port: int = 0
    health_port: int = 0
    http_port: int | None = None
    signs_tokens: bool = False
    db_pool: int = 0
    resources: Resources = field(default_factory=Resources)
    scaling: Scaling = field(default_factory=Scaling)
    job: bool = False

    @property
    def runner(self) -> str:
        return self.run.split()[0]

    @property
    def target(self) -> str:
        return self.run.split()[1]

    @property
    def command(self) -> list[str]:
        """The container command (the image's PATH has the venv)."""
        if self.runner == "nameko":
            return ["nameko", "run", "--config", "config.yml", self.target]
        return ["python", "-m", self.target]

    @property
    def job_name(self) -> str:
        """Prometheus `job` label."""
        return self.name.replace("-", "_")

    @property
    def scrape_port(self) -> int:
        return self.metrics_port or self.http_port or 0

    @property
    def probe_port(self) -> int:
        return self.http_port or self.health_port

    def service_class(self) -> type | None:
        if self.runner != "nameko":
            return None
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


class RawLoader(yaml.SafeLoader):
    """SafeLoader without nameko's `${VAR:default}` resolver: load_config() (nameko's
    setup_yaml_parser) installs it on yaml.SafeLoader for the whole process, and files such as
    docker-compose.yml must be read as written."""


def load_raw_yaml(text: str) -> Any:
    RawLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "!env_var"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return yaml.load(text, Loader=RawLoader)  # noqa: S506 (a SafeLoader subclass)


def _spec(entry: dict[str, Any], job: bool = False) -> ProcessSpec:
    values = dict(entry)
    values["stores"] = tuple(values.get("stores", ()))
    values["rpc_calls"] = tuple(values.get("rpc_calls", ()))
    values["resources"] = Resources(**values.get("resources", {}))
    values["scaling"] = Scaling(**values.get("scaling", {}))
    unknown = set(values["stores"]) - set(STORES)
    if unknown:
        raise ValueError(f"{entry['name']}: unknown stores {sorted(unknown)}")
    return ProcessSpec(**values, job=job)


def load_table() -> tuple[list[ProcessSpec], list[ProcessSpec], PostgresBudget]:
    table = yaml.safe_load(TABLE_FILE.read_text())
    postgres = table["postgres"]
    budget = PostgresBudget(
        database=postgres["database"],
        max_connections=postgres["max_connections"],
        reserved=postgres["reserved"],
        pgbouncer_port=postgres["pgbouncer"]["port"],
        pgbouncer_replicas=postgres["pgbouncer"]["replicas"],
    )
    return (
        [_spec(entry) for entry in table["processes"]],
        [_spec(entry, job=True) for entry in table.get("jobs", [])],
        budget,
    )


PROCESSES, JOBS, POSTGRES = load_table()


def process(name: str) -> ProcessSpec:
    return next(p for p in [*PROCESSES, *JOBS] if p.name == name)


# --- what the code uses ---------------------------------------------------------------------

# Each DependencyProvider/entrypoint class the services use, by qualified name, and the stores
# behind it. A provider missing here fails tests/unit/test_process_table.py: classify it.
PROVIDER_STORES: dict[str, tuple[str, ...]] = {
    "dependencies.postgres.Database": ("postgres",),
    "dependencies.redis.Redis": ("redis",),
    "dependencies.clickhouse.ClickHouse": ("clickhouse",),
    "services.messaging.store_provider.MessageStore": ("mongodb",),
    "dependencies.outbox.OutboxRelay": ("postgres", "rabbitmq"),
    "dependencies.tokens.AccessTokens": (),
    "dependencies.metrics.Metrics": (),
    "dependencies.request_context.RequestContext": (),
    "dependencies.health.HealthServer": (),
    "gateway_http.campaign_lists.CampaignListReader": ("redis",),  # the campaigns' list cache
    "services.auth.account_cache.AccountViewCache": (),  # in-process memory
    "dependencies.caller.Caller": ("redis",),  # verifies relayed tokens: denylist in Redis
    "dependencies.caller.TokenlessEventDispatcher": ("rabbitmq",),
    "dependencies.caller.TokenlessPublisher": ("rabbitmq",),
    "dependencies.ingest_queue.IngestPublisher": ("rabbitmq",),
    "nameko.dependency_providers.Config": (),
    "nameko.events.EventDispatcher": ("rabbitmq",),
    "nameko.messaging.Publisher": ("rabbitmq",),
    "nameko.rpc.RpcProxy": ("rabbitmq",),
    "dependencies.rpc.DeadlineRpcProxy": ("rabbitmq",),
    # entrypoints
    "nameko.rpc.Rpc": ("rabbitmq",),
    "nameko.events.EventHandler": ("rabbitmq",),
    "dependencies.event_handlers.DurableEventHandler": ("rabbitmq",),
    "nameko.messaging.Consumer": ("rabbitmq",),
    "dependencies.batch_consumer.BatchConsumer": ("rabbitmq",),
    "nameko.timer.Timer": (),
    "nameko.web.handlers.HttpRequestHandler": (),
    "gateway_http.edge.Route": ("redis",),  # admits and authenticates: limits, denylist
}


# Connections per replica of an outbox relay (dependencies/outbox.py: its engine's pool of 2, with
# DB_MAX_OVERFLOW=0 in the deployments): the LISTEN connection and the sweeps' connection.
RELAY_CONNECTIONS = 2
SESSION_PROVIDERS = ("dependencies.outbox.OutboxRelay",)  # LISTEN: a session of its own


def session_connections(process: ProcessSpec) -> int:
    """Direct PostgreSQL connections of one replica (DATABASE_URL, bypassing PgBouncer): the
    providers that keep session state (LISTEN) need a server connection of their own."""
    service_class = process.service_class()
    if service_class is None or "postgres" not in process.stores:
        return 0
    providers = dependency_providers(service_class).values()
    return RELAY_CONNECTIONS * sum(qualified_name(p) in SESSION_PROVIDERS for p in providers)


def qualified_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def dependency_providers(service_class: type) -> dict[str, Any]:
    from nameko.extensions import DependencyProvider

    return {
        name: value
        for name, value in inspect.getmembers(service_class)
        if isinstance(value, DependencyProvider)
    }


def entrypoints(service_class: type) -> list[tuple[str, Any]]:
    found = []
    for name, method in inspect.getmembers(service_class, callable):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            found.append((name, entrypoint))
    return found


def stores_used(service_class: type) -> tuple[set[str], list[str]]:
    """(stores, unclassified extension class names) of a Nameko service class."""
    stores: set[str] = set()
    unknown = []
    extensions = [*dependency_providers(service_class).values()]
    extensions += [entrypoint for _, entrypoint in entrypoints(service_class)]
    for extension in extensions:
        name = qualified_name(extension)
        if name not in PROVIDER_STORES:
            unknown.append(name)
        else:
            stores.update(PROVIDER_STORES[name])
    return stores, sorted(set(unknown))
