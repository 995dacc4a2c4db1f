from hubtui.store.db import Database
from hubtui.store.migrate import HEAD_REVISION, alembic_head


async def test_database_is_real_postgres(db: Database) -> None:
    version = await db.pool.fetchval("select version()")
    assert version.startswith("PostgreSQL 16")


def test_start_up_check_knows_the_newest_migration() -> None:
    # The app compares against HEAD_REVISION instead of importing Alembic on every start.
    assert alembic_head() == HEAD_REVISION
