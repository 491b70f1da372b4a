-- The asset and finding lifecycle (SPEC §3): history tables and the analyst's views.
-- Must stay valid on ClickHouse 18.16 and current releases (see docs/architecture.md).
--
-- History is append-only, but at-least-once delivery may write a change twice: the sort
-- key names one change (an object reaches one status in one sync at most once), so a
-- duplicate collapses within its month partition; read with FINAL. A writer that
-- repeats a change must repeat its time too, or the copy may land in another partition.
-- old_status / old_state is '' for a new object.

CREATE TABLE IF NOT EXISTS {db}.finding_history
(
    connector_id String,
    uid          String,
    old_status   String,
    new_status   Enum8('Active' = 1, 'Fixed' = 2),
    reason       String,
    sync_id      String,
    time         DateTime
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (connector_id, uid, sync_id, new_status);

CREATE TABLE IF NOT EXISTS {db}.asset_history
(
    connector_id String,
    uid          String,
    old_state    String,
    new_state    String,
    reason       String,
    sync_id      String,
    time         DateTime
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (connector_id, uid, sync_id, new_state);

-- The findings an analyst sees: the newest version of every finding except those whose
-- primary asset is archived (hidden with it, not Fixed). A finding without an asset row
-- stays visible. NOT IN over a (connector_id, uid) subquery rather than a JOIN: it reads
-- the same on 18.16 and current releases (no join_use_nulls or USING renames), and WHERE
-- after FINAL filters merged rows on both (no automatic PREWHERE with FINAL). The columns
-- are listed so that a column added to findings later does not change the view; a later
-- migration that wants it here drops and recreates the view.
CREATE VIEW IF NOT EXISTS {db}.current_findings AS
SELECT
    connector_id, connector_type, uid, asset_uid, asset_uids, asset_class, asset_name, name, cves,
    description, score, severity, vendor_severity, status, vendor_status, first_seen, last_seen,
    port, protocol, custom_attributes.key, custom_attributes.value, scope, sync_id, fetched_at,
    version
FROM {db}.findings FINAL
WHERE (connector_id, asset_uid) NOT IN
    (SELECT connector_id, uid FROM {db}.assets FINAL WHERE archive_reason != '');

-- Weaknesses (the reference's "detections"): one row per distinct vulnerability of a
-- connector, keyed by CVE (a finding with several CVEs counts under each) or, for a
-- finding without one, by its name. Computed over current_findings, so findings of
-- archived assets do not count; a weakness whose findings are all Fixed stays, with no
-- affected active asset. title is the smallest name, so it is stable. The inner query
-- renames columns so that no output alias shadows a column an aggregate reads.
CREATE VIEW IF NOT EXISTS {db}.weaknesses AS
SELECT
    connector_id,
    weakness_key AS weakness,
    min(finding_name) AS title,
    max(finding_severity) AS severity,
    uniqExactIf(primary_asset, finding_status = 'Active' AND primary_asset != '') AS affected_active_assets,
    min(finding_first_seen) AS first_seen,
    max(finding_last_seen) AS last_seen
FROM
(
    SELECT
        connector_id,
        arrayJoin(if(empty(cves), [name], cves)) AS weakness_key,
        name AS finding_name,
        severity AS finding_severity,
        status AS finding_status,
        asset_uid AS primary_asset,
        first_seen AS finding_first_seen,
        last_seen AS finding_last_seen
    FROM {db}.current_findings
)
GROUP BY connector_id, weakness_key;
