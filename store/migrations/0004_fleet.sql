-- Fleet heartbeats (parallax.fleet.v1.Fleet/Heartbeat, docs/fleet.md).
-- node_heartbeats: one row per heartbeat received, never updated.
CREATE TABLE node_heartbeats (
    node_id              VARCHAR NOT NULL,
    heartbeat_seq        BIGINT NOT NULL,     -- per collector process, from 1
    received_at          TIMESTAMPTZ NOT NULL, -- server clock (t1)
    node_sent_at         TIMESTAMPTZ,         -- node clock (t0), NULL when not reported
    hardware_tier        VARCHAR,             -- device, near-edge, cloud
    region               VARCHAR,
    accelerator          VARCHAR,
    collector_version    VARCHAR,
    models               STRUCT(model_name VARCHAR, model_version VARCHAR, quantization VARCHAR,
                                loaded BOOLEAN, warm BOOLEAN)[],
    pending_bytes        BIGINT,              -- buffer stats: NULL when not reported
    pending_batches      BIGINT,
    oldest_pending_age_s DOUBLE,
    dropped_spans        BIGINT,              -- running total since the collector started
    disk_free_bytes      BIGINT,
    clock_offset_ms      DOUBLE,              -- server clock minus node clock, as the node estimated it
    round_trip_ms        DOUBLE               -- round trip of that estimate (error <= round_trip_ms / 2)
);

-- nodes: the latest heartbeat of each node, one row per node (replaced on every heartbeat).
CREATE TABLE nodes (
    node_id              VARCHAR NOT NULL,
    hardware_tier        VARCHAR,
    region               VARCHAR,
    accelerator          VARCHAR,
    collector_version    VARCHAR,
    models               STRUCT(model_name VARCHAR, model_version VARCHAR, quantization VARCHAR,
                                loaded BOOLEAN, warm BOOLEAN)[],
    pending_bytes        BIGINT,
    pending_batches      BIGINT,
    oldest_pending_age_s DOUBLE,
    dropped_spans        BIGINT,
    disk_free_bytes      BIGINT,
    clock_offset_ms      DOUBLE,              -- latest estimate reported, kept until a newer one
    round_trip_ms        DOUBLE,
    heartbeat_seq        BIGINT NOT NULL,     -- of the latest heartbeat
    node_sent_at         TIMESTAMPTZ,         -- node clock at the latest heartbeat
    first_seen_at        TIMESTAMPTZ NOT NULL, -- server clock
    last_seen_at         TIMESTAMPTZ NOT NULL, -- server clock at the latest heartbeat
    heartbeat_count      BIGINT NOT NULL      -- heartbeats received from the node
);
