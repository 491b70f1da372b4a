-- Narrow copies of each finding's status and each asset's archive reason, keyed by a
-- 64-bit hash of the uid, for the processor's per-batch state lookups
-- (FindingStatuses, AssetArchiveReasons). A lookup scans its connector's rows; here a
-- row is 17 bytes plus the reason instead of a uid string of ~100, and the IN set holds
-- integers. Materialized views fill them as findings and assets are written; the
-- backfill copies what was written before (a row copied twice collapses: same key and
-- version). Must stay valid on ClickHouse 18.16 and current releases.

CREATE TABLE IF NOT EXISTS {db}.finding_state
(
    connector_id String,
    uid_hash     UInt64,
    status       Enum8('Active' = 1, 'Fixed' = 2),
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (connector_id, uid_hash);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.finding_state_mv TO {db}.finding_state AS
SELECT connector_id, cityHash64(uid) AS uid_hash, status, version FROM {db}.findings;

INSERT INTO {db}.finding_state SELECT connector_id, cityHash64(uid), status, version FROM {db}.findings;

CREATE TABLE IF NOT EXISTS {db}.asset_state
(
    connector_id   String,
    uid_hash       UInt64,
    archive_reason String,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (connector_id, uid_hash);

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.asset_state_mv TO {db}.asset_state AS
SELECT connector_id, cityHash64(uid) AS uid_hash, archive_reason, version FROM {db}.assets;

INSERT INTO {db}.asset_state SELECT connector_id, cityHash64(uid), archive_reason, version FROM {db}.assets;
