"""The demo's script: which nodes exist, what each runs, and what happens when.

The orchestrator builds one :class:`Plan` from the command's flags, writes it to
``<demo dir>/plan.json``, and every app process reads it back, so the whole fleet
follows one deterministic script (and a test can read what was supposed to happen).

Layout (``--nodes N``, at least 3): nodes are added in the order below, then further
device and near-edge nodes alternate between the regions.

=====================  =========  ============  =========  ===========
node                   tier       quantization  region     accelerator
=====================  =========  ============  =========  ===========
``eu-cloud-01``        cloud      fp32          eu-west-1  cpu
``eu-device-01``       device     int8          eu-west-1  npu
``eu-near-01``         near-edge  fp16          eu-west-1  gpu
``us-cloud-01``        cloud      fp32          us-east-1  cpu
``us-device-01``       device     int8          us-east-1  npu
``us-near-01``         near-edge  fp16          us-east-1  gpu
=====================  =========  ============  =========  ===========

Roles: the first device node loses its link for ``outage_s``; the last near-edge node
lags (stays on ``fraud-gbm`` 2.1 through the whole rollout); the last device node turns
product recommendations on mid-run and cold-starts the model.

Timeline, as shares of the story length (``--duration``, at most 240 s; 240 s when the
demo runs until Ctrl-C): cold start at 12%; outage from 15%; rollout wave to 2.2 from
20% to 35%, wave to 2.3 from 45% to 70%, one node after the other, cloud first.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

STORY_S = 240.0
COLD_START_AT, OUTAGE_AT = 0.12, 0.15
WAVES = (("2.2", 0.20, 0.35), ("2.3", 0.45, 0.70))
FIRST_VERSION = "2.1"
REGIONS = ("eu-west-1", "us-east-1")
_TIERS = {  # tier: (quantization, accelerator, median latency ms)
    "cloud": ("fp32", "cpu", 1.5),
    "device": ("int8", "npu", 9.0),
    "near-edge": ("fp16", "gpu", 4.0),
}
_SHORT = {"cloud": "cloud", "device": "device", "near-edge": "near"}
_FIRST_SIX = (
    ("eu-west-1", "cloud"),
    ("eu-west-1", "device"),
    ("eu-west-1", "near-edge"),
    ("us-east-1", "cloud"),
    ("us-east-1", "device"),
    ("us-east-1", "near-edge"),
)


@dataclass(frozen=True)
class Switch:
    """From ``at_s`` seconds after the start, the node serves ``version``."""

    at_s: float
    version: str


@dataclass(frozen=True)
class NodePlan:
    """One simulated edge node: its identity, what it runs and its part in the story."""

    node_id: str
    region: str
    tier: str
    quantization: str
    accelerator: str
    latency_ms: float  # median of the simulated accelerator time per inference
    fraud_versions: tuple[Switch, ...]
    recs_from_s: float = 0.0  # product recommendations served from then on
    recs_cold_start: bool = False  # the recs model is loaded on its first request
    outage: tuple[float, float] | None = None  # (from_s, to_s): the link is down
    lagging: bool = False

    def fraud_version(self, elapsed_s: float) -> str:
        """The fraud model version the node serves ``elapsed_s`` after the start."""
        current = self.fraud_versions[0].version
        for switch in self.fraud_versions:
            if switch.at_s <= elapsed_s:
                current = switch.version
        return current


@dataclass(frozen=True)
class Plan:
    """The whole script; ``start_epoch`` is set when every process is ready."""

    seed: int
    story_s: float
    duration_s: float | None
    fraud_rate: float  # inputs per second in the shared transaction stream
    recs_rate: float  # sessions per second in the shared session stream
    shadow_share: float  # share of edge inputs also scored by a cloud node
    nodes: tuple[NodePlan, ...]
    waves: tuple[tuple[str, float], ...] = field(default=())  # (version, all moved by s)

    def node(self, node_id: str) -> NodePlan:
        return next(node for node in self.nodes if node.node_id == node_id)

    def shadow_target(self, home: NodePlan) -> NodePlan | None:
        """The cloud node that scores a shadow copy of ``home``'s inputs (None for cloud)."""
        if home.tier == "cloud":
            return None
        clouds = [node for node in self.nodes if node.tier == "cloud"]
        same_region = [node for node in clouds if node.region == home.region]
        return (same_region or clouds)[0]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Plan:
        data = json.loads(path.read_text(encoding="utf-8"))
        nodes = tuple(
            NodePlan(
                **{
                    **node,
                    "fraud_versions": tuple(Switch(**s) for s in node["fraud_versions"]),
                    "outage": tuple(node["outage"]) if node["outage"] else None,
                }
            )
            for node in data.pop("nodes")
        )
        waves = tuple(tuple(wave) for wave in data.pop("waves"))
        return cls(**data, nodes=nodes, waves=waves)


def layout(count: int) -> list[tuple[str, str, str]]:
    """(node id, region, tier) of ``count`` nodes, in the order of the module's table."""
    places = list(_FIRST_SIX[:count])
    extra = 0
    while len(places) < count:
        region = REGIONS[extra % 2]
        tier = ("device", "near-edge")[(extra // 2) % 2]
        places.append((region, tier))
        extra += 1
    numbered: dict[tuple[str, str], int] = {}
    nodes = []
    for region, tier in places:
        numbered[region, tier] = numbered.get((region, tier), 0) + 1
        node_id = f"{region[:2]}-{_SHORT[tier]}-{numbered[region, tier]:02d}"
        nodes.append((node_id, region, tier))
    return nodes


def build_plan(
    nodes: int,
    seed: int,
    duration_s: float | None,
    outage_s: float,
    fraud_rate: float = 40.0,
    recs_rate: float = 12.0,
    shadow_share: float = 0.75,
) -> Plan:
    """The script for ``nodes`` nodes; the story fits in ``duration_s`` when given."""
    if nodes < 3:
        raise ValueError("the demo needs at least 3 nodes (a cloud, a device, a near-edge)")
    story = min(duration_s, STORY_S) if duration_s else STORY_S
    places = layout(nodes)
    lagging = [node_id for node_id, _, tier in places if tier == "near-edge"][-1]
    offline = next(node_id for node_id, _, tier in places if tier == "device")
    cold = [node_id for node_id, _, tier in places if tier == "device"][-1]
    movers = [node_id for node_id, _, _ in sorted(places, key=_cloud_first) if node_id != lagging]
    switches: dict[str, list[Switch]] = {
        node_id: [Switch(0.0, FIRST_VERSION)] for node_id, *_ in places
    }
    waves = []
    for version, begin, end in WAVES:
        step = (end - begin) * story / max(len(movers) - 1, 1)
        for index, node_id in enumerate(movers):
            switches[node_id].append(Switch(round(begin * story + index * step, 2), version))
        waves.append((version, round(end * story, 2)))
    outage_from = round(OUTAGE_AT * story, 2)
    plans = []
    for node_id, region, tier in places:
        quantization, accelerator, latency = _TIERS[tier]
        plans.append(
            NodePlan(
                node_id=node_id,
                region=region,
                tier=tier,
                quantization=quantization,
                accelerator=accelerator,
                latency_ms=latency,
                fraud_versions=tuple(switches[node_id]),
                recs_from_s=round(COLD_START_AT * story, 2) if node_id == cold else 0.0,
                recs_cold_start=node_id == cold,
                outage=(outage_from, outage_from + outage_s) if node_id == offline else None,
                lagging=node_id == lagging,
            )
        )
    return Plan(
        seed=seed,
        story_s=story,
        duration_s=duration_s,
        fraud_rate=fraud_rate,
        recs_rate=recs_rate,
        shadow_share=shadow_share,
        nodes=tuple(plans),
        waves=tuple(waves),
    )


def _cloud_first(place: tuple[str, str, str]) -> tuple[int, str]:
    node_id, _, tier = place
    return (0 if tier == "cloud" else 1, node_id)
