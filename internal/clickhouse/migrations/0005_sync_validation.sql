-- Data validation: per sync, each total the vendor reported during Fetching next to what
-- Tributary held once the sync was processed (assets not archived as not returned or by
-- retention; active findings). One row per (sync, object, class); a row written again
-- after a replay collapses. A few rows per sync, so kept without expiry.
-- Must stay valid on ClickHouse 18.16 and current releases (see docs/architecture.md).

CREATE TABLE IF NOT EXISTS {db}.sync_validation
(
    connector_id String,
    sync_id      String,
    time         DateTime,
    object       String,
    class        String,
    vendor_count Int64,
    stored_count Int64,
    source       String
)
ENGINE = ReplacingMergeTree()
ORDER BY (connector_id, sync_id, object, class);
