-- Assets and findings, one row per (connector_id, uid) after merges: the row with the
-- highest version (fetched_at in microseconds) wins, so read with FINAL or argMax.
-- Must stay valid on ClickHouse 18.16 and current releases (see docs/architecture.md).

CREATE TABLE IF NOT EXISTS {db}.assets
(
    connector_id        String,
    connector_type      String,
    uid                 String,
    class               Enum8('Device' = 1, 'Container' = 2, 'Resource' = 3),
    name                String,
    external_id         String,
    provider_id         String,
    operating_system    String,
    ipv4                Array(String),
    ipv6                Array(String),
    fqdn                String,
    mac_addresses       Array(String),
    image_tags          Array(String),
    image_digest        String,
    provider            String,
    cloud_resource_type String,
    first_observed_at   Nullable(DateTime),
    last_observed_at    Nullable(DateTime),
    vendor_status       String,
    external_tags       Nested(key String, value String),
    custom_attributes   Nested(key String, value String),
    scope               String,
    sync_id             String,
    fetched_at          DateTime,
    version             UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (connector_id, uid);

CREATE TABLE IF NOT EXISTS {db}.findings
(
    connector_id      String,
    connector_type    String,
    uid               String,
    asset_uid         String,
    asset_uids        Array(String),
    asset_class       Enum8('Unknown' = 0, 'Device' = 1, 'Container' = 2, 'Resource' = 3),
    asset_name        String,
    name              String,
    cves              Array(String),
    description       String,
    score             Nullable(Float64),
    severity          Enum8('None' = 0, 'Low' = 1, 'Medium' = 2, 'High' = 3, 'Critical' = 4),
    vendor_severity   String,
    status            Enum8('Active' = 1, 'Fixed' = 2),
    vendor_status     String,
    first_seen        Nullable(DateTime),
    last_seen         Nullable(DateTime),
    port              Nullable(UInt16),
    protocol          String,
    custom_attributes Nested(key String, value String),
    scope             String,
    sync_id           String,
    fetched_at        DateTime,
    version           UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (connector_id, uid);
