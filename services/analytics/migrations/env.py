from services.analytics.models import Base
from services.common.migrations import run_migrations

run_migrations(Base.metadata)
