"""docs/events.md from the event contracts (kernel/events.py) and the handlers that consume them.

`python -m scripts.event_docs` rewrites the file; tests/unit/test_event_contracts.py fails when it
is stale.
"""

import inspect
import sys
from pathlib import Path
from typing import Any

from nameko.events import EventHandler

from kernel.config import PROJECT_ROOT
from kernel.events import CONTRACTS, EventContract
from scripts.processes import PROCESSES, entrypoints

DOC_FILE = PROJECT_ROOT / "docs" / "events.md"
ENVELOPE = set(EventContract.model_fields)


def consumer_classes() -> list[type]:
    """The Nameko service classes of the process table, and the ws hubs' fan-out container."""
    from ws.fanout import fanout_service

    classes = [cls for process in PROCESSES if (cls := process.service_class()) is not None]
    return [*classes, fanout_service(hub=None)]  # type: ignore[arg-type]  # hub: used per event


def consumers() -> dict[tuple[str, str], list[str]]:
    """(source, event type) -> ["service.handler", ...] from the services' event handlers."""
    found: dict[tuple[str, str], list[str]] = {}
    for cls in consumer_classes():
        for name, entrypoint in entrypoints(cls):
            if isinstance(entrypoint, EventHandler):
                key = (entrypoint.source_service, entrypoint.event_type)
                found.setdefault(key, []).append(f"{cls.name}.{name}")
    return found


def _type(schema: dict[str, Any], definitions: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(option, definitions) for option in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}), definitions)}"
    if kind == "string" and "format" in schema:
        return str(schema["format"])
    return str(kind)


def _fields(contract: type[EventContract]) -> list[str]:
    schema = contract.model_json_schema()
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", []))
    rows = []
    for name, field in schema["properties"].items():
        if name in ENVELOPE:
            continue
        description = field.get("description", "").replace("|", "\\|")
        mark = "yes" if name in required else "no"
        rows.append(f"| `{name}` | {_type(field, definitions)} | {mark} | {description} |")
    return rows


def render() -> str:
    handlers = consumers()
    lines = [
        "# Events",
        "",
        "Generated from the contracts in `kernel/events.py` and the services' event handlers by",
        "`make events-doc`; don't edit by hand (a unit test fails when it is stale).",
        "",
        "Every event also carries the envelope: `event_id` (uuid, consumers are idempotent",
        "on it), `occurred_at` (date-time, UTC) and `event_version` (the contract version).",
        "A producer sends exactly its contract's fields (checked when the event is recorded);",
        "a consumer ignores fields it doesn't know, so adding a field is compatible and",
        "removing or retyping one is a new contract version. Events cross RabbitMQ on the",
        "producer's `<source>.events` exchange with the event name as routing key.",
        "",
        "| event | producer | consumers |",
        "|---|---|---|",
    ]
    for source, name in CONTRACTS:
        used_by = ", ".join(f"`{h}`" for h in handlers.get((source, name), [])) or "none yet"
        lines.append(f"| [`{source}.{name}`](#{source}{name}) | {source} | {used_by} |")
    for (source, name), contract in CONTRACTS.items():
        doc = inspect.getdoc(contract) or ""  # a subclass without one shows its family's
        lines += ["", f"## {source}.{name}", "", f"Version {contract.contract_version}. {doc}"]
        lines += ["", "| field | type | required | description |", "|---|---|---|---|"]
        lines += _fields(contract)
    return "\n".join(lines) + "\n"


def main() -> int:
    DOC_FILE.write_text(render())
    print(f"wrote {Path(DOC_FILE).relative_to(PROJECT_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
