import services.analytics.link_models  # noqa: F401  (registers the tracking-link tables)
from services.analytics.models import Base
from services.common.migrations import run_migrations

run_migrations(Base.metadata)
