-- The sync log: syncs (one row per sync after merges, the highest version wins) and
-- sync_log (one row per entry of the sync-log topic, keyed by where it sits in the topic,
-- so an entry written again after a replay collapses). Both keep 14 days: day partitions
-- that DropExpiredSyncLog drops, and a TTL where the server has one.
-- Must stay valid on ClickHouse 18.16 and current releases (see docs/architecture.md).
--
-- Precision: DateTime holds seconds. The page shows sync and stage times to the second
-- and durations come as Float64 seconds, so syncs keeps whole seconds; sync_log adds
-- time_ms (the milliseconds within time's second) so entries of one second keep their
-- order and read back with the topic's millisecond precision.
--
-- A sync's error block is flattened into error_* columns, all empty when it has none;
-- its five stages are one Nested row each, a NULL time meaning not started or not ended.
-- A sync whose first stage has not started has started_at 0 (1970-01-01), read back as
-- the zero time. Since a sync's started_at, and so its partition, may change between
-- versions and merges never cross partitions, reads pick the highest version per sync_id
-- explicitly (ORDER BY version DESC LIMIT 1 BY sync_id) instead of trusting FINAL.

CREATE TABLE IF NOT EXISTS {db}.syncs
(
    sync_id            String,
    connector_id       String,
    connector_type     String,
    type               String,
    status             Enum8('In Progress' = 1, 'Done' = 2, 'Failed' = 3),
    failed_stage       String,
    started_at         DateTime,
    ended_at           Nullable(DateTime),
    ingestion_seconds  Float64,
    processing_seconds Float64,
    records_fetched    Int64,
    records_written    Int64,
    records_failed     Int64,
    error_class        String,
    error_message      String,
    error_action       String,
    error_root_cause   String,
    error_code         String,
    error_details      String,
    error_headers      Nested(key String, value String),
    error_payload      String,
    stages             Nested(
        name           String,
        state          String,
        started_at     Nullable(DateTime),
        ended_at       Nullable(DateTime),
        seconds        Float64,
        records_in     Int64,
        records_out    Int64,
        records_failed Int64
    ),
    updated_at         DateTime,
    version            UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMMDD(started_at)
ORDER BY (connector_id, sync_id);

-- level is an ordered Enum8, so level >= 'WARN' works; state is a String because an
-- entry may carry none.
CREATE TABLE IF NOT EXISTS {db}.sync_log
(
    sync_id          String,
    connector_id     String,
    time             DateTime,
    time_ms          UInt16,
    level            Enum8('DEBUG' = 1, 'INFO' = 2, 'WARN' = 3, 'ERROR' = 4),
    stage            String,
    state            String,
    message          String,
    error_class      String,
    error_message    String,
    error_action     String,
    error_root_cause String,
    error_code       String,
    error_details    String,
    error_headers    Nested(key String, value String),
    error_payload    String,
    log_partition    Int32,
    log_offset       Int64
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMMDD(time)
ORDER BY (sync_id, time, log_partition, log_offset);

-- requires: ttl
ALTER TABLE {db}.syncs MODIFY TTL started_at + INTERVAL 14 DAY;

-- requires: ttl
ALTER TABLE {db}.sync_log MODIFY TTL time + INTERVAL 14 DAY;
