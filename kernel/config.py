"""Load config.yml outside `nameko run` (scripts, tests, benchmarks).

Values use Nameko's ${VAR:default} convention, resolved from the environment."""

from pathlib import Path
from typing import Any

import yaml
from nameko.cli.main import setup_yaml_parser

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config.yml"


def load_config(path: Path = DEFAULT_CONFIG_PATH) -> dict[str, Any]:
    setup_yaml_parser()
    with path.open() as handle:
        return yaml.safe_load(handle)


def resolve_path(path: str) -> Path:
    """Relative paths in config are relative to the project root, not the working directory."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate
