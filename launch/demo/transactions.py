"""Synthetic card transactions, and the hidden rule that makes some of them fraud.

Every value is drawn from a seeded NumPy generator, so the same seed gives the same
transactions in every process: that is how the demo's nodes score *the same* inputs
without talking to each other. Two "eras" differ in how fraud looks (which merchants,
how much the IP reputation matters), so models trained on different eras really learn
different rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CATEGORIES = (
    "grocery",
    "fuel",
    "restaurants",
    "fashion",
    "travel",
    "electronics",
    "gaming",
    "gift-cards",
)
_CATEGORY_SHARE = np.array([0.28, 0.14, 0.18, 0.12, 0.07, 0.09, 0.07, 0.05])
_CATEGORY_AMOUNT = np.array([45.0, 55.0, 35.0, 80.0, 420.0, 260.0, 30.0, 90.0])
_HOUR_WEIGHT = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 6, 5.5, 5, 5, 5.5, 6, 6.5, 6, 5, 4, 3, 2]
)


@dataclass(frozen=True)
class Era:
    """How fraud looked in one period: the weights of the hidden fraud logit."""

    name: str
    bias: float
    amount_ratio: float
    night: float
    foreign: float
    velocity: float
    device_trust: float
    ip_risk: float
    category_risk: tuple[float, ...]


ERA_2024_H1 = Era(
    name="2024-h1",
    bias=-4.6,
    amount_ratio=1.1,
    night=1.0,
    foreign=1.3,
    velocity=0.55,
    device_trust=-2.2,
    ip_risk=1.5,
    category_risk=(-0.8, -0.5, -0.7, 0.0, 0.9, 0.8, 0.3, 0.6),
)
ERA_2024_H2 = Era(
    name="2024-h2",
    bias=-4.9,
    amount_ratio=1.4,
    night=0.4,
    foreign=0.9,
    velocity=0.7,
    device_trust=-2.0,
    ip_risk=4.0,
    category_risk=(-0.8, -0.6, -0.7, -0.1, 0.5, 1.2, 0.6, 1.6),
)
LIVE_ERA = ERA_2024_H2


@dataclass(frozen=True)
class Transactions:
    """A batch of transactions as columns (index ``i`` of every column is one transaction)."""

    amount: np.ndarray
    avg_amount_30d: np.ndarray
    category: np.ndarray  # index into CATEGORIES
    hour: np.ndarray
    distance_km: np.ndarray
    txn_last_hour: np.ndarray
    card_age_days: np.ndarray
    foreign: np.ndarray  # bool
    device_trust: np.ndarray
    ip_risk: np.ndarray

    def __len__(self) -> int:
        return len(self.amount)

    def record(self, i: int) -> dict[str, object]:
        """Transaction ``i`` as the app receives it: the input that is fingerprinted."""
        return {
            "amount": float(self.amount[i]),
            "avg_amount_30d": float(self.avg_amount_30d[i]),
            "merchant_category": CATEGORIES[int(self.category[i])],
            "hour": int(self.hour[i]),
            "distance_km": float(self.distance_km[i]),
            "txn_last_hour": int(self.txn_last_hour[i]),
            "card_age_days": int(self.card_age_days[i]),
            "foreign": bool(self.foreign[i]),
            "device_trust": float(self.device_trust[i]),
            "ip_risk": float(self.ip_risk[i]),
        }

    def take(self, rows: np.ndarray) -> Transactions:
        """The transactions at ``rows``."""
        return Transactions(**{name: column[rows] for name, column in self._columns().items()})

    def _columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def draw(rng: np.random.Generator, count: int) -> Transactions:
    """``count`` transactions; values rounded as a payment system would send them."""
    category = rng.choice(len(CATEGORIES), size=count, p=_CATEGORY_SHARE)
    typical = _CATEGORY_AMOUNT[category]
    avg_amount = np.round(typical * rng.lognormal(0.0, 0.35, count), 2)
    amount = np.round(avg_amount * rng.lognormal(0.0, 0.9, count), 2)
    foreign = rng.random(count) < 0.08
    distance = np.where(
        foreign, rng.lognormal(7.0, 0.8, count), rng.lognormal(1.8, 1.1, count)
    ).round(1)
    return Transactions(
        amount=np.maximum(amount, 0.5),
        avg_amount_30d=np.maximum(avg_amount, 1.0),
        category=category,
        hour=rng.choice(24, size=count, p=_HOUR_WEIGHT / _HOUR_WEIGHT.sum()),
        distance_km=distance,
        txn_last_hour=rng.poisson(0.6, count),
        card_age_days=(rng.exponential(700.0, count) + 1).astype(np.int64),
        foreign=foreign,
        device_trust=rng.beta(5.0, 2.0, count).round(3),
        ip_risk=rng.beta(1.0, 7.0, count).round(3),
    )


def fraud_probability(batch: Transactions, era: Era) -> np.ndarray:
    """The hidden truth: the chance that each transaction is fraud, in ``era``."""
    night = (batch.hour < 6).astype(float)
    logit = (
        era.bias
        + era.amount_ratio * np.log(batch.amount / batch.avg_amount_30d)
        + np.asarray(era.category_risk)[batch.category]
        + era.night * night
        + era.foreign * batch.foreign
        + era.velocity * np.minimum(batch.txn_last_hour, 5)
        + era.device_trust * (batch.device_trust - 0.7)
        + era.ip_risk * batch.ip_risk
        - 0.35 * np.log1p(batch.card_age_days / 30.0)
        + 1.0
    )
    return 1.0 / (1.0 + np.exp(-logit))


def labelled(rng: np.random.Generator, count: int, era: Era) -> tuple[Transactions, np.ndarray]:
    """Training data: ``count`` transactions of ``era`` and whether each was fraud (0/1)."""
    batch = draw(rng, count)
    return batch, (rng.random(count) < fraud_probability(batch, era)).astype(np.float64)
