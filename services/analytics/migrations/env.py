import services.analytics.link_models  # noqa: F401  (registers the tracking-link tables)
from dependencies.alembic_env import run_migrations
from services.analytics.models import Base

run_migrations(Base.metadata)
