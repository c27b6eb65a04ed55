"""Users, their roles and sites, and API tokens.

Roles (``ROLES``):

* ``admin``: everything, including the audit log and (via the CLI) accounts;
* ``commander``: the command centre; every site, read and alert handling,
  maintenance windows, sensitive values;
* ``inspector``: read and alert handling, but only on the sites assigned to them;
* ``viewer``: read only.

Gateways have no account and so no API access: they only publish to MQTT.

A token is ``pw_<token_id>_<secret>`` with a 256-bit random secret. Only the
SHA-256 of the whole token is stored. A slow password hash (bcrypt, argon2)
protects *low-entropy* secrets against guessing after a database leak; a
random 256-bit secret cannot be guessed either way, so a fast hash is as safe
and lets every request be checked with one indexed lookup. ``token_id`` is
not secret: it names the token in listings, the audit log and revocations.

Verified tokens are remembered for :data:`TOKEN_CACHE_S` seconds
(:meth:`AccountStore.cached`), so a busy client costs one database read per
token every few seconds instead of one per request. A change made through the
same :class:`AccountStore` (revoking a token, an inspector's sites) forgets
them all at once; one made elsewhere (``parkwatch api tokens revoke`` is
another process, as is a second API process on the same PostgreSQL) takes
effect within :data:`TOKEN_CACHE_S`. Expiry is checked on every use.

    >>> token = new_token()
    >>> token.text.startswith("pw_") and len(token.secret_sha256) == 64
    True
    >>> hash_token(token.text) == token.secret_sha256
    True
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final, Literal, get_args

from sqlalchemy import Connection, delete, insert, select, update

from cloud_api.db import Database, tokens, user_sites, users
from parkwatch.errors import ParkwatchError
from parkwatch.wire.topics import ID_PATTERN

__all__ = [
    "Role",
    "ROLES",
    "CLEARED_ROLES",
    "Principal",
    "NewToken",
    "AccountError",
    "AccountStore",
    "new_token",
    "hash_token",
    "TOKEN_CACHE_S",
]

Role = Literal["admin", "commander", "inspector", "viewer"]
ROLES: Final = get_args(Role)
#: Roles that see sensitive values unmasked.
CLEARED_ROLES: Final = frozenset({"admin", "commander"})
#: How long a verified token is trusted without asking the database again: the longest a
#: revocation (or a change of sites) made by another process takes to reach this one.
TOKEN_CACHE_S: Final = 5.0
#: Verified tokens remembered at most (all forgotten at once beyond this, so memory is bounded).
_TOKEN_CACHE_MAX: Final = 10_000


class AccountError(ParkwatchError):
    """An account operation was refused: unknown user, duplicate name, bad role, bad name or site."""


def _check_sites(sites: list[str]) -> None:
    bad = [s for s in sites if not ID_PATTERN.match(s)]
    if bad:
        raise AccountError(f"site {bad[0]!r} is not a site id (letters, digits, '_', '.', '-'; at most 64)")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (by token) or ``anonymous`` when authentication is off."""

    name: str
    role: Role
    #: Sites the caller may see; ``None`` means every site (all roles but inspector).
    sites: frozenset[str] | None
    token_id: str | None = None

    @property
    def cleared(self) -> bool:
        """Whether sensitive values are shown unmasked."""
        return self.role in CLEARED_ROLES

    def may_see(self, site: str) -> bool:
        return self.sites is None or site in self.sites


@dataclass(frozen=True, slots=True)
class NewToken:
    token_id: str
    #: The bearer token; shown once, never stored.
    text: str
    secret_sha256: str


def hash_token(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_token() -> NewToken:
    token_id = secrets.token_hex(6)
    text = f"pw_{token_id}_{secrets.token_urlsafe(32)}"
    return NewToken(token_id, text, hash_token(text))


class AccountStore:
    """Accounts and tokens in the API's database; every call is one transaction.

    ``token_cache_s``: how long :meth:`cached` answers for a token :meth:`authenticate`
    verified (0: never, every request reads the database).

    >>> db = Database("sqlite:///:memory:")
    >>> db.open()
    >>> accounts = AccountStore(db)
    >>> accounts.add_user("ada", "admin", [], 0)
    >>> accounts.add_user("ada lovelace", "admin", [], 0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    cloud_api.accounts.AccountError: user name 'ada lovelace' is not allowed: 1-64 letters, ...
    >>> token = accounts.create_token("ada", 0, expires_ms=100)
    >>> accounts.cached(token.text, 1) is None  # not verified yet
    True
    >>> accounts.authenticate(token.text, 1).name, accounts.cached(token.text, 1).name
    ('ada', 'ada')
    >>> accounts.cached(token.text, 100) is None  # expired
    True
    >>> accounts.revoke_token(token.token_id, 2)
    >>> accounts.cached(token.text, 3), accounts.authenticate(token.text, 3)
    (None, None)
    >>> db.close()
    """

    def __init__(self, db: Database, token_cache_s: float = TOKEN_CACHE_S) -> None:
        self.db = db
        self.token_cache_s = token_cache_s
        #: SHA-256 of a verified token -> (principal, its expiry, monotonic time verified).
        self._verified: dict[str, tuple[Principal, int | None, float]] = {}
        #: Bumped by every account change; a verification that raced with one is not remembered.
        self._generation = 0
        self._cache_lock = threading.Lock()

    def _forget_verified(self) -> None:
        """After a change to accounts or tokens: verify every token again on its next use."""
        with self._cache_lock:
            self._generation += 1
            self._verified.clear()

    def add_user(self, name: str, role: str, sites: list[str], now_ms: int) -> None:
        # Names go into audit entries, alert actions and rule versions: ids, as sites are.
        if not ID_PATTERN.match(name):
            raise AccountError(f"user name {name[:80]!r} is not allowed: 1-64 letters, digits, '_', '.', '-'")
        _check_sites(sites)
        if role not in ROLES:
            raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if role == "inspector" and not sites:
            raise AccountError("an inspector needs at least one --site")
        with self.db.write() as conn:
            if conn.execute(select(users.c.name).where(users.c.name == name)).first() is not None:
                raise AccountError(f"user {name!r} exists already")
            conn.execute(insert(users).values(name=name, role=role, created_ms=now_ms, disabled=0))
            if sites:
                conn.execute(insert(user_sites), [{"user_name": name, "site": s} for s in sorted(set(sites))])

    def set_sites(self, name: str, sites: list[str]) -> None:
        _check_sites(sites)
        with self.db.write() as conn:
            self._require_user(conn, name)
            conn.execute(delete(user_sites).where(user_sites.c.user_name == name))
            if sites:
                conn.execute(insert(user_sites), [{"user_name": name, "site": s} for s in sorted(set(sites))])
        self._forget_verified()

    def list_users(self) -> list[tuple[str, str, list[str], bool]]:
        """``(name, role, sites, disabled)`` for every user, by name."""
        with self.db.read() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
            assigned = conn.execute(select(user_sites).order_by(user_sites.c.site)).all()
        by_user: dict[str, list[str]] = {}
        for row in assigned:
            by_user.setdefault(row.user_name, []).append(row.site)
        return [(r.name, r.role, by_user.get(r.name, []), bool(r.disabled)) for r in rows]

    def create_token(self, name: str, now_ms: int, expires_ms: int | None, description: str = "") -> NewToken:
        token = new_token()
        with self.db.write() as conn:
            self._require_user(conn, name)
            conn.execute(
                insert(tokens).values(
                    token_id=token.token_id,
                    secret_sha256=token.secret_sha256,
                    user_name=name,
                    created_ms=now_ms,
                    expires_ms=expires_ms,
                    description=description,
                )
            )
        return token

    def revoke_token(self, token_id: str, now_ms: int) -> None:
        with self.db.write() as conn:
            done = conn.execute(
                update(tokens)
                .where(tokens.c.token_id == token_id, tokens.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms)
                .returning(tokens.c.token_id)
            ).first()
            if done is None:
                raise AccountError(f"no active token {token_id!r}")
        self._forget_verified()

    def cached(self, text: str, now_ms: int) -> Principal | None:
        """The principal of a token :meth:`authenticate` verified less than ``token_cache_s`` ago
        and that has not expired since; ``None``: not known here, ask :meth:`authenticate`.

        No database access and no blocking, so it may run on the event loop.
        """
        entry = self._verified.get(hash_token(text))
        if entry is None:
            return None
        principal, expires_ms, verified_s = entry
        if time.monotonic() - verified_s >= self.token_cache_s:
            return None
        if expires_ms is not None and expires_ms <= now_ms:
            return None
        return principal

    def authenticate(self, text: str, now_ms: int) -> Principal | None:
        """The principal a bearer token stands for, or ``None`` (unknown, revoked, expired, disabled).

        Always reads the database; a token found valid is remembered for :meth:`cached`.
        """
        secret_sha256 = hash_token(text)
        generation = self._generation
        verified_s = time.monotonic()
        with self.db.read() as conn:
            row = conn.execute(
                select(
                    tokens.c.token_id, tokens.c.expires_ms, tokens.c.revoked_ms, users.c.name, users.c.role
                )
                .join(users, users.c.name == tokens.c.user_name)
                .where(tokens.c.secret_sha256 == secret_sha256, users.c.disabled == 0)
            ).first()
            if row is None or row.revoked_ms is not None:
                return None
            if row.expires_ms is not None and row.expires_ms <= now_ms:
                return None
            sites: frozenset[str] | None = None
            if row.role == "inspector":
                sites = frozenset(
                    conn.execute(
                        select(user_sites.c.site).where(user_sites.c.user_name == row.name)
                    ).scalars()
                )
        principal = Principal(row.name, row.role, sites, row.token_id)
        if self.token_cache_s > 0:
            with self._cache_lock:
                if generation == self._generation:  # no account change since the read began
                    if len(self._verified) >= _TOKEN_CACHE_MAX:
                        self._verified.clear()
                    self._verified[secret_sha256] = (principal, row.expires_ms, verified_s)
        return principal

    @staticmethod
    def _require_user(conn: Connection, name: str) -> None:
        if conn.execute(select(users.c.name).where(users.c.name == name)).first() is None:
            raise AccountError(f"no user {name!r}")
