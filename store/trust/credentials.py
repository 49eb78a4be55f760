"""Node credentials: bearer tokens bound to node ids, kept only as hashes.

The file (``server.credentials_file``) is JSON, written by ``parallax credentials``
(mode 0600, replaced atomically with a rename, so a reader never sees half of it)::

    {"credentials": [
      {"node_id": "edge-1", "kind": "node", "token_sha256": "<64 hex>", "created_at": "..."},
      {"node_id": "relay-1", "kind": "gateway", "nodes": ["edge-1", "edge-2"],
       "token_sha256": "<64 hex>", "created_at": "..."}]}

A token is 32 random bytes, URL-safe base64 behind a ``plx_`` prefix (so secret
scanners can spot one), printed once by ``parallax credentials add`` and never stored.
Tokens are random, not chosen by people, so one SHA-256 is enough to keep the file
useless to a thief (no dictionary guesses 256 random bits), and a token is found by its
hash. A node has at most one credential: adding it again replaces the token (rotation);
revoking deletes it. A gateway's token writes for the nodes it lists (relays).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from parallax.errors import ConfigError

TOKEN_PREFIX = "plx_"
KINDS = ("node", "gateway")


@dataclass(frozen=True)
class NodeCredential:
    node_id: str
    kind: str  # "node" or "gateway"
    token_sha256: str
    nodes: frozenset[str] = frozenset()  # a gateway's relayed nodes
    created_at: str = ""

    @property
    def may_write_for(self) -> frozenset[str]:
        return self.nodes | {self.node_id} if self.kind == "gateway" else frozenset({self.node_id})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class CredentialsFile:
    """Reads and rewrites the credentials file; ``by_hash`` maps token hashes to credentials."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, NodeCredential]:
        """Every credential by its token hash; ConfigError names what is wrong."""
        return {c.token_sha256: c for c in self.credentials()}

    def credentials(self) -> list[NodeCredential]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            raise ConfigError(f"{self.path}: not a readable credentials file: {err}") from err
        try:
            return [_parse(entry) for entry in document["credentials"]]
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{self.path}: malformed credential: {err}") from err

    def add(self, node_id: str, kind: str = "node", nodes: list[str] | None = None) -> str:
        """Create (or replace) the node's credential; return its token, shown only now."""
        if not node_id or kind not in KINDS:
            raise ConfigError(f"a credential needs a node id and a kind in {KINDS}")
        token = new_token()
        created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        credential = NodeCredential(
            node_id, kind, token_hash(token), frozenset(nodes or ()), created
        )
        kept = [c for c in self.credentials() if c.node_id != node_id]
        self._write([*kept, credential])
        return token

    def revoke(self, node_id: str) -> bool:
        """Delete the node's credential; False when it had none."""
        credentials = self.credentials()
        kept = [c for c in credentials if c.node_id != node_id]
        if len(kept) == len(credentials):
            return False
        self._write(kept)
        return True

    def _write(self, credentials: list[NodeCredential]) -> None:
        document = {"credentials": [_entry(c) for c in credentials]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".credentials-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2, sort_keys=True)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _parse(entry: dict) -> NodeCredential:
    kind = entry.get("kind", "node")
    digest = entry["token_sha256"]
    if kind not in KINDS or len(digest) != 64 or not entry["node_id"]:
        raise ValueError(f"bad entry for {entry.get('node_id')!r}")
    int(digest, 16)
    return NodeCredential(
        entry["node_id"],
        kind,
        digest,
        frozenset(entry.get("nodes", ())),
        entry.get("created_at", ""),
    )


def _entry(credential: NodeCredential) -> dict:
    entry = {
        "node_id": credential.node_id,
        "kind": credential.kind,
        "token_sha256": credential.token_sha256,
        "created_at": credential.created_at,
    }
    if credential.kind == "gateway":
        entry["nodes"] = sorted(credential.nodes)
    return entry
