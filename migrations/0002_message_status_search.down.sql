CREATE INDEX IF NOT EXISTS message_status_received_at_idx
    ON message_status (received_at);

DROP INDEX IF EXISTS message_status_tenant_status_received_idx;
DROP INDEX IF EXISTS message_status_tenant_received_idx;
DROP INDEX IF EXISTS message_status_received_idx;
