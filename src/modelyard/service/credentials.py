"""Password hashes and access-token secrets.

Passwords are hashed with scrypt (memory-hard) and a random per-user salt, written as
``scrypt:<n>:<r>:<p>$<salt>$<hex digest>`` so the parameters travel with the hash and can be raised
later without breaking old hashes. The same layout is Werkzeug's, the library MLflow's basic-auth
store hashes with, so a user table carried over from MLflow verifies too: its ``scrypt:...`` hashes
and its older ``pbkdf2:sha256:<iterations>$...`` ones. Comparison is constant-time.

Tokens are ``myd_`` followed by 43 URL-safe characters (256 random bits); only their SHA-256 is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
TOKEN_PREFIX = "myd_"
_SALT_CHARS = string.ascii_letters + string.digits
#: Longest password accepted: hashing work must not grow with what a client sends.
MAX_PASSWORD_LENGTH = 1024


def hash_password(password: str, n: int = SCRYPT_N) -> str:
    """A new scrypt hash of ``password`` with a fresh 16-character salt (``n``: the cost; tests
    lower it to stay fast)."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(16))
    digest = _scrypt(password, salt, n, SCRYPT_R, SCRYPT_P)
    return f"scrypt:{n}:{SCRYPT_R}:{SCRYPT_P}${salt}${digest}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for a hash in an unknown or broken format."""
    try:
        method, salt, digest = stored.split("$", 2)
        kind, *params = method.split(":")
        if kind == "scrypt":
            n, r, p = (int(x) for x in params) if params else (SCRYPT_N, SCRYPT_R, SCRYPT_P)
            if n > 1 << 20 or r > 32 or p > 16:  # refuse a hash that would take a server down
                return False
            computed = _scrypt(password, salt, n, r, p)
        elif kind == "pbkdf2" and params and params[0] in ("sha256", "sha512"):
            iterations = int(params[1]) if len(params) > 1 else 600_000
            if iterations > 10_000_000:
                return False
            computed = hashlib.pbkdf2_hmac(
                params[0], password.encode(), salt.encode(), iterations
            ).hex()
        else:
            return False
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(computed.encode(), digest.encode())


def needs_rehash(stored: str, n: int = SCRYPT_N) -> bool:
    """Whether ``stored`` is not what :func:`hash_password` writes now (PBKDF2, other scrypt costs)."""
    return not stored.startswith(f"scrypt:{n}:{SCRYPT_R}:{SCRYPT_P}$")


def _scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64
    ).hex()


def new_token() -> str:
    """A fresh access-token secret, shown to its owner once."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What the store keeps of a token: the hex SHA-256 of the whole secret."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 200
