"""Secrets and names: how tokens are made, hashed and compared, and how rater names match.

Only SHA-256 hashes of secrets are stored: the admin token, each invite token and each rater's
personal key (the ``?r=`` part of the rating page's address). A name-joined rater gets a random
key when joining; an invited rater's key is derived from the invite token (a separate hash of
it), so opening the invite link again finds the same rater with the same key, while the
database alone gives neither the token nor the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata

_KEY_DOMAIN = b"glide-bench human_eval rater key\x00"


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (what the database stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_hash(token: str, stored_sha256: str | None) -> bool:
    """Constant-time check of a token against a stored hash."""
    return stored_sha256 is not None and hmac.compare_digest(hash_token(token), stored_sha256)


def new_token(n_bytes: int = 16) -> str:
    return secrets.token_urlsafe(n_bytes)


def invite_rater_key(invite_token: str) -> str:
    """The personal key of the rater who joins with this invite token."""
    digest = hashlib.sha256(_KEY_DOMAIN + invite_token.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode("ascii").rstrip("=")


def invite_rater_name(invite_token: str) -> str:
    """The name an invited rater gets: from the token's hash, so it reveals nothing of it."""
    return f"invite-{hash_token(invite_token)[:8]}"


def display_name(name: str) -> str:
    """A name as shown: surrounding white space dropped, inner runs of it made one space."""
    return " ".join((name or "").split())


def name_key(name: str) -> str:
    """What makes two names the same rater: Unicode NFKC, white space collapsed, case-folded.

    (The migration to revision 0002 keeps a frozen copy; change both together.)
    """
    return " ".join(unicodedata.normalize("NFKC", name or "").split()).casefold()
