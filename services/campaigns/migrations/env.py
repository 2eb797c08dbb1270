from dependencies.alembic_env import run_migrations
from services.campaigns.models import Base

run_migrations(Base.metadata)
