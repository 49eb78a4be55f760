-- The fleet's hardware_tier stored canonically, as in spans (store.canonical): the
-- convention's word, the spelling as sent kept where it differed, NULL otherwise.
ALTER TABLE node_heartbeats ADD COLUMN hardware_tier_as_sent VARCHAR;  -- parallax.hardware.tier as sent
ALTER TABLE nodes ADD COLUMN hardware_tier_as_sent VARCHAR;

UPDATE node_heartbeats
SET hardware_tier_as_sent = hardware_tier, hardware_tier = px_canonical_tier(hardware_tier)
WHERE hardware_tier IS DISTINCT FROM px_canonical_tier(hardware_tier);

UPDATE nodes
SET hardware_tier_as_sent = hardware_tier, hardware_tier = px_canonical_tier(hardware_tier)
WHERE hardware_tier IS DISTINCT FROM px_canonical_tier(hardware_tier);
