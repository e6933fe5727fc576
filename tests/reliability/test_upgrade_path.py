"""Issue #8 part 5: the documented upgrade path across Alembic migrations, with data.

The upgrade path, for operators: stop the servers, `vulntrail backup FILE`, install the
new version, `vulntrail db upgrade` (or start `vulntrail serve`, which upgrades first),
start the servers. If anything goes wrong, `vulntrail restore FILE --force` with the old
version puts the store back.

What is tested, for every revision in the Alembic script directory (so each new
migration is covered without touching this file):

- an empty store upgrades to head, takes data through the API, and a second
  `vulntrail db upgrade` is a no-op that leaves every row as it was;
- a store holding data at revision R (R = every revision, head included) upgrades to
  head keeping every row of every column that existed at R, the server then serves
  that data and accepts new imports;
- the migrations build exactly the schema the models declare (a model changed without
  a migration would leave every upgraded store behind the code).

Data at an older revision R is written by the API at head and then brought down to R
with Alembic's downgrade (the downgrades keep the data of the columns they keep). A
migration whose downgrade cannot keep data registers a writer for its predecessor in
SEED_AT_REVISION instead; one that rewrites existing rows on purpose registers the
expected rewrite in EXPECTED_REWRITE.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from reliability_support import (
    compact_report,
    fill_store,
    post_import,
    schema_layout,
    store_state,
    vulntrail_cli,
)
from sqlalchemy import create_engine, text

from conftest import TOKEN, start_server
from vulntrail.config import Settings
from vulntrail.store import migrate
from vulntrail.store.models import Base

SCRIPTS = ScriptDirectory(str(migrate.MIGRATIONS))
REVISIONS = [script.revision for script in reversed(list(SCRIPTS.walk_revisions()))]
HEAD = SCRIPTS.get_current_head()
State = dict[str, list[str]]
# revision -> writes representative rows into a store at that revision (database URL)
SEED_AT_REVISION: dict[str, Callable[[str], None]] = {}
# revision -> what upgrading from it does to the rows that existed before
EXPECTED_REWRITE: dict[str, Callable[[State], State]] = {}


def alembic_to(database_url: str, revision: str, *, down: bool = False) -> None:
    engine = create_engine(database_url)
    try:
        config = migrate.alembic_config(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)
    finally:
        engine.dispose()


def revision_of(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def fill_through_the_api(database_url: str) -> None:
    server, thread, url = start_server(Settings(database_url=database_url, bootstrap_token=TOKEN))
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=120
        ) as client:
            fill_store(client)
    finally:
        server.should_exit = True
        thread.join(30)


def serves_and_takes_imports(database_url: str, findings: int) -> None:
    server, thread, url = start_server(Settings(database_url=database_url, bootstrap_token=TOKEN))
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=120
        ) as client:
            page = client.get("/api/v2/findings/", params={"limit": 1}).json()
            assert page["count"] == findings
            response = post_import(
                client, compact_report(20, start=7000, tag="after"), engagement_name="CI-main-500"
            )
            assert response.status_code == 201, response.text[:300]
    finally:
        server.should_exit = True
        thread.join(30)


def upgrade(database_url: str) -> None:
    result = vulntrail_cli(database_url, "db", "upgrade")
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_script_directory_is_one_line_of_revisions() -> None:
    assert REVISIONS and REVISIONS[-1] == HEAD
    assert len(SCRIPTS.get_heads()) == 1, "several heads: merge them before release"


def test_migrations_build_exactly_the_schema_the_models_declare(database_url: str) -> None:
    """A model changed without a migration (or a migration that misses a column) would
    leave upgraded stores behind the code: Alembic's autogenerate finds no difference."""
    alembic_to(database_url, "head")
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], f"models and migrations differ: {differences[:10]}"


def test_empty_store_upgrades_to_head_and_a_second_upgrade_keeps_every_row(
    database_url: str,
) -> None:
    upgrade(database_url)
    assert revision_of(database_url) == HEAD
    fill_through_the_api(database_url)
    before = store_state(database_url)
    upgrade(database_url)
    assert store_state(database_url) == before


@pytest.mark.parametrize("revision", REVISIONS)
def test_store_with_data_at_each_revision_upgrades_to_head_keeping_it(
    database_url: str, revision: str
) -> None:
    if revision in SEED_AT_REVISION:
        alembic_to(database_url, revision)
        SEED_AT_REVISION[revision](database_url)
    else:
        fill_through_the_api(database_url)
        if revision != HEAD:
            alembic_to(database_url, revision, down=True)
    assert revision_of(database_url) == revision
    layout = schema_layout(database_url)
    before = store_state(database_url, layout=layout)
    findings = len(before.get("findings", []))
    assert findings, "the store at this revision holds no findings to carry over"
    upgrade(database_url)
    assert revision_of(database_url) == HEAD
    rewrite = EXPECTED_REWRITE.get(revision)
    expected = rewrite(before) if rewrite else before
    after = store_state(database_url, layout=layout)
    changed = [table for table in expected if after.get(table) != expected[table]]
    assert not changed, f"upgrading from {revision} changed the rows of {changed}"
    serves_and_takes_imports(database_url, findings)
