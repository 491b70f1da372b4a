-- Why an asset is archived: empty while it is active; 'status' when its vendor status is
-- in the connector's remove set (Cortex XDR's LOST, UNINSTALLED, ...). Issue 5's
-- lifecycle adds the other reasons. (18.16 has no ADD COLUMN IF NOT EXISTS: Migrate
-- treats "column exists" as done.)
ALTER TABLE {db}.assets ADD COLUMN archive_reason String AFTER vendor_status;
