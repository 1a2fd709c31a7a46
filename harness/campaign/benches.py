"""Which benches exist and what their sites are: agents register the benches they serve (the
lab's `name:` and `site:` tags) in a small table of ours beside DBOS's, so `harness submit
--tag city=hanoi` can pick a bench it has never seen a lab file of.

The choice is made at submission: among the registered benches whose site has every tag, the
one with the fewest runs queued or running (then by name). The run then waits on that bench's
queue like any other."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa

from harness.campaign.db import sql_engine

_META = sa.MetaData()
BENCHES = sa.Table(
    "ran_harness_benches", _META,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("site", sa.Text, nullable=False),  # JSON object of the lab's site: tags
    sa.Column("executor_id", sa.String(200), nullable=False),
    sa.Column("updated", sa.String(40), nullable=False),
)


def register(resolved_url: str, sites: dict[str, dict[str, str]], executor_id: str) -> None:
    """Record (or refresh) the benches an agent serves, with their site tags."""
    engine = sql_engine(resolved_url)
    try:
        _META.create_all(engine)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with engine.begin() as conn:
            for name, site in sites.items():
                conn.execute(sa.delete(BENCHES).where(BENCHES.c.name == name))
                conn.execute(sa.insert(BENCHES).values(
                    name=name, site=json.dumps(site, sort_keys=True),
                    executor_id=executor_id, updated=now))
    finally:
        engine.dispose()


def matching(resolved_url: str, tags: dict[str, str]) -> list[str]:
    """Names of the registered benches whose site has every KEY=VALUE of `tags`, sorted."""
    engine = sql_engine(resolved_url)
    try:
        _META.create_all(engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(BENCHES.c.name, BENCHES.c.site)).all()
    finally:
        engine.dispose()
    found = []
    for name, site_json in rows:
        site = json.loads(site_json)
        if all(str(site.get(k)) == v for k, v in tags.items()):
            found.append(str(name))
    return sorted(found)
