-- Indexes of the console's search (GET /ingest/messages): newest first by
-- received_at then message_id, the order of its keyset pagination, for every
-- tenant, for one tenant, and for one tenant's messages in one status. Each
-- page is then one index range scan, however many rows the table holds.
--
-- The (received_at, message_id) index starts with the column of
-- message_status_received_at_idx, which it replaces.
CREATE INDEX IF NOT EXISTS message_status_received_idx
    ON message_status (received_at DESC, message_id DESC);

CREATE INDEX IF NOT EXISTS message_status_tenant_received_idx
    ON message_status (tenant, received_at DESC, message_id DESC);

CREATE INDEX IF NOT EXISTS message_status_tenant_status_received_idx
    ON message_status (tenant, status, received_at DESC, message_id DESC);

DROP INDEX IF EXISTS message_status_received_at_idx;
