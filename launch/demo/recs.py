"""``recs-mf``: a matrix-factorisation recommender (top-k products for a shopping session).

Trained at start-up by alternating least squares on synthetic purchase histories
(deterministic by seed). A session is a user and the products they just viewed; the
query vector is the user's vector plus the mean of the viewed products' vectors, and
the answer is the ``TOP_K`` products with the highest dot product (plus popularity),
the viewed ones excluded.

Precisions, computed honestly:

- ``fp32``: vectors and dot products in float32;
- ``fp16``: vectors, query and dot products in float16;
- ``int8``: product vectors quantized with one symmetric scale (calibrated on their
  maximum), the query with its own scale per request, dot products accumulated in
  int32, popularity added on the same integer scale. Products whose scores are close
  swap places, so the lists' tails really differ from fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_NAME = "recs-mf"
VERSION = "1.4"
QUANTIZATIONS = ("fp32", "fp16", "int8")
USERS, PRODUCTS, DIMENSIONS, TOP_K = 3000, 400, 24, 10
_TASTES, _ALS_ROUNDS, _RIDGE = 8, 8, 2.0


@dataclass(frozen=True)
class RecsModel:
    """Learned user and product vectors (float32) and product popularity."""

    user_vectors: np.ndarray  # (USERS, DIMENSIONS)
    product_vectors: np.ndarray  # (PRODUCTS, DIMENSIONS)
    popularity: np.ndarray  # (PRODUCTS,)

    def save(self, path: Path) -> None:
        np.savez(
            path,
            user_vectors=self.user_vectors,
            product_vectors=self.product_vectors,
            popularity=self.popularity,
        )

    @classmethod
    def load(cls, path: Path) -> RecsModel:
        with np.load(path) as data:
            return cls(data["user_vectors"], data["product_vectors"], data["popularity"])


def train(seed: int) -> RecsModel:
    """Fit user and product vectors to synthetic purchases by alternating least squares."""
    rng = np.random.default_rng([seed, 31])
    users_taste = rng.normal(0.0, 1.0, (USERS, _TASTES))
    products_taste = rng.normal(0.0, 1.0, (PRODUCTS, _TASTES))
    appeal = rng.normal(-3.0, 0.8, PRODUCTS)
    affinity = users_taste @ products_taste.T / np.sqrt(_TASTES) * 2.0 + appeal
    bought = (rng.random((USERS, PRODUCTS)) < 1.0 / (1.0 + np.exp(-affinity))).astype(float)
    popularity = bought.mean(axis=0)
    target = bought - popularity  # what taste explains beyond popularity
    products = rng.normal(0.0, 0.1, (PRODUCTS, DIMENSIONS))
    ridge = _RIDGE * np.eye(DIMENSIONS)
    for _ in range(_ALS_ROUNDS):
        users = target @ products @ np.linalg.inv(products.T @ products + ridge)
        products = target.T @ users @ np.linalg.inv(users.T @ users + ridge)
    return RecsModel(
        users.astype(np.float32),
        products.astype(np.float32),
        (4.0 * popularity).astype(np.float32),
    )


def product_id(index: int) -> str:
    return f"p-{index:04d}"


def user_id(index: int) -> str:
    return f"u-{index:05d}"


class RecsScorer:
    """A model compiled for one precision: ``fp32``, ``fp16`` or ``int8``."""

    def __init__(self, model: RecsModel, quantization: str) -> None:
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"unknown quantization {quantization!r}")
        self.model = model
        self.quantization = quantization
        if quantization == "int8":
            self._product_scale = float(np.abs(model.product_vectors).max()) / 127.0
            self._products = _to_int8(model.product_vectors / self._product_scale)
        elif quantization == "fp16":
            self._products = model.product_vectors.astype(np.float16)
            self._popularity = model.popularity.astype(np.float16)
        else:
            self._products = model.product_vectors

    def recommend(self, user: int, viewed: list[int], k: int = TOP_K) -> tuple[list[int], float]:
        """The ``k`` best products for the session, best first, and the best one's score."""
        viewed_vectors = self.model.product_vectors[viewed]
        query = self.model.user_vectors[user] + 0.5 * viewed_vectors.mean(axis=0)
        scores = self._scores(query.astype(np.float32)).astype(np.float64)
        scores[viewed] = -np.inf
        order = np.lexsort((np.arange(len(scores)), -scores))[:k]
        return [int(i) for i in order], float(scores[order[0]])

    def _scores(self, query: np.ndarray) -> np.ndarray:
        if self.quantization == "int8":
            query_scale = max(float(np.abs(query).max()), 1e-12) / 127.0
            scale = self._product_scale * query_scale
            dots = self._products.astype(np.int32) @ _to_int8(query / query_scale).astype(np.int32)
            popularity = np.round(self.model.popularity / scale).astype(np.int32)
            return (dots + popularity).astype(np.float32) * np.float32(scale)
        if self.quantization == "fp16":
            return self._products @ query.astype(np.float16) + self._popularity
        return self._products @ query + self.model.popularity


def _to_int8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), -127, 127).astype(np.int8)
