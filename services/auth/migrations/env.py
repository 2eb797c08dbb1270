from dependencies.alembic_env import run_migrations
from services.auth.models import Base

run_migrations(Base.metadata)
