"""Self-check of an installation: config, database, broker, model weights, catalog."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core.config import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def check_database(settings: Settings) -> Check:
    from sqlalchemy.engine import make_url

    from core.db.migrate import schema_state

    shown = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    state = schema_state(settings.sqlalchemy_url)
    if not state.reachable:
        return Check("database", False, f"{shown}: {state.error}",
                     "start the database, check MUSECHAT_DATABASE_URL, then run `musechat db upgrade`")
    if state.current != state.head:
        return Check("database", False, f"{shown}: schema {state.current or '(empty)'}, code needs {state.head}",
                     "run `musechat db upgrade`")
    return Check("database", True, f"{shown}: schema {state.current} (latest)")


def check_broker(settings: Settings) -> Check:
    if not settings.broker_url:
        return Check("broker", True, "not configured: jobs run in-process", required=False)
    from sqlalchemy.engine import make_url

    shown = make_url(settings.broker_url).render_as_string(hide_password=True)
    if not settings.broker_url.startswith(("redis://", "rediss://")):
        return Check("broker", False, f"{shown}: only Redis brokers are checked", required=False)
    import redis

    try:
        redis.Redis.from_url(settings.broker_url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return Check("broker", False, f"{shown}: {exc}", "start Redis or fix MUSECHAT_BROKER_URL")
    return Check("broker", True, f"{shown}: reachable")


def check_weights(settings: Settings) -> list[Check]:
    from core.weights import required_weights

    return [
        Check(f"weights: {w.name}", w.present, f"{w.purpose} — {w.location}", w.fix)
        for w in required_weights(settings)
    ]


def check_data_dir(settings: Settings) -> Check:
    d = settings.data_dir
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return Check("data directory", False, f"{d}: {exc.strerror}", "set MUSECHAT_DATA_DIR to a writable folder")
    return Check("data directory", True, str(d))


def check_retriever(settings: Settings) -> Check:
    from core.errors import WeightsMissing
    from core.retriever.checkpoint import resolve_checkpoint

    try:
        folder = resolve_checkpoint(settings)
    except WeightsMissing as exc:
        return Check("retriever checkpoint", False, str(exc).split(":")[0],
                     "train one with `musechat train retriever --out DIR` and set MUSECHAT_RETRIEVER_CHECKPOINT")
    return Check("retriever checkpoint", True, str(folder))


def check_catalog(settings: Settings, database_ok: bool) -> Check:
    if not database_ok:
        return Check("catalog", False, "database not ready", "see the database check", required=False)
    from sqlalchemy import func, select

    from core.db.models import Track
    from core.db.session import session_scope

    with session_scope(settings.sqlalchemy_url) as s:
        count = s.scalar(select(func.count(Track.id))) or 0
    if count == 0:
        return Check("catalog", False, "no tracks yet", "run `musechat catalog demo` or `musechat catalog add DIR`",
                     required=False)
    return Check("catalog", True, f"{count} tracks")


def run_checks(settings: Settings) -> list[Check]:
    database = check_database(settings)
    checks = [Check("configuration", True, f"profile {settings.profile}, device {settings.device}"),
              check_data_dir(settings), database, check_broker(settings)]
    checks += check_weights(settings)
    checks += [check_retriever(settings), check_catalog(settings, database.ok)]
    return checks
