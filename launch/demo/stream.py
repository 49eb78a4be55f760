"""The shared input streams every node draws from, identical in every process.

Two streams tick at fixed rates from the demo's start: card transactions
(``fraud-scoring``) and shopping sessions (``product-recs``). Input ``i`` of a stream is
due ``i / rate`` seconds after the start. Inputs come in blocks of ``BLOCK``, each drawn
from a generator seeded with (seed, stream, block number), so any process can compute
any input without the others. Each input also carries its routing: a *home* node (every
node equally likely) and, for inputs homed on a device or near-edge node, whether a
shadow copy is scored by a cloud node as well (``shadow_share``) — that is how the same
input gets answers from several model variants.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from launch.demo import recs
from launch.demo.plan import Plan
from launch.demo.transactions import Transactions, draw

BLOCK = 256
_FRAUD_STREAM, _RECS_STREAM = 11, 12
VIEWED_PER_SESSION = 3


@dataclass(frozen=True)
class Session:
    """A shopping session: who, and which products they just viewed."""

    user: int
    viewed: tuple[int, ...]

    def record(self) -> dict[str, object]:
        """The session as the app receives it: the input that is fingerprinted."""
        return {
            "user": recs.user_id(self.user),
            "viewed": [recs.product_id(p) for p in self.viewed],
            "k": recs.TOP_K,
        }


class Routing:
    """Which inputs a node scores: those homed on it, and shadow copies of others'."""

    def __init__(self, plan: Plan, node_id: str) -> None:
        self._home_index = [n.node_id for n in plan.nodes].index(node_id)
        self._shadowed_homes = np.array(
            [
                (target := plan.shadow_target(home)) is not None and target.node_id == node_id
                for home in plan.nodes
            ]
        )
        self._count = len(plan.nodes)
        self._shadow_share = plan.shadow_share

    def mine(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Positions in a block this node scores (consumes the block's routing draws)."""
        home = rng.integers(self._count, size=size)
        shadow = rng.random(size) < self._shadow_share
        return np.flatnonzero((home == self._home_index) | (shadow & self._shadowed_homes[home]))


class TransactionStream:
    """The transactions a node scores, in stream order."""

    def __init__(self, plan: Plan, node_id: str) -> None:
        self._seed = plan.seed
        self._routing = Routing(plan, node_id)
        self.rate = plan.fraud_rate

    def block(self, number: int) -> Iterator[tuple[int, Transactions, int]]:
        """(stream index, block, position) of this node's inputs in block ``number``."""
        rng = np.random.default_rng([self._seed, _FRAUD_STREAM, number])
        batch = draw(rng, BLOCK)
        for position in self._routing.mine(rng, BLOCK):
            yield number * BLOCK + int(position), batch, int(position)


class SessionStream:
    """The shopping sessions a node scores, in stream order."""

    def __init__(self, plan: Plan, node_id: str) -> None:
        self._seed = plan.seed
        self._routing = Routing(plan, node_id)
        self.rate = plan.recs_rate

    def block(self, number: int) -> Iterator[tuple[int, Session]]:
        """(stream index, session) of this node's sessions in block ``number``."""
        rng = np.random.default_rng([self._seed, _RECS_STREAM, number])
        users = rng.integers(recs.USERS, size=BLOCK)
        viewed = np.argsort(rng.random((BLOCK, recs.PRODUCTS)), axis=1)[:, :VIEWED_PER_SESSION]
        for position in self._routing.mine(rng, BLOCK):
            session = Session(int(users[position]), tuple(int(p) for p in viewed[position]))
            yield number * BLOCK + int(position), session
