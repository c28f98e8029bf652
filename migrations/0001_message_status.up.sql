-- message_status keeps each message's status record in PostgreSQL: the
-- workers write it in the same transaction as the entity rows, and the
-- gateway reads it when the KV bucket no longer has the record.
--
-- Beyond the columns of DESIGN.md it keeps the rest of the record, so both
-- stores return the same thing: history (the lifecycle events), tenant,
-- redrives (orders a redriven record after the failed one), and revision,
-- which every write increments so that an update can compare-and-swap on it.
-- Columns are named as the record's JSON fields.
CREATE TABLE IF NOT EXISTS message_status (
    message_id   uuid        PRIMARY KEY,
    status       text        NOT NULL
        CONSTRAINT message_status_status_check
        CHECK (status IN ('accepted', 'processing', 'retrying', 'completed', 'failed')),
    entity_type  text,
    source       text,
    tenant       text,
    attempts     integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error        text,
    received_at  timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    completed_at timestamptz,
    entities     jsonb,
    history      jsonb       NOT NULL DEFAULT '[]'::jsonb,
    redrives     integer     NOT NULL DEFAULT 0 CHECK (redrives >= 0),
    revision     bigint      NOT NULL DEFAULT 1
);

CREATE INDEX IF NOT EXISTS message_status_status_updated_at_idx
    ON message_status (status, updated_at);

CREATE INDEX IF NOT EXISTS message_status_received_at_idx
    ON message_status (received_at);
