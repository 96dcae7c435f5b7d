-- smsgw event log, version 1: one row per event (see src/event.rs for the kinds and fields).
CREATE TABLE IF NOT EXISTS smsgw_events (
    event_id          text PRIMARY KEY,
    kind              text NOT NULL,
    at_ms             bigint NOT NULL,
    at                timestamptz GENERATED ALWAYS AS (to_timestamp(at_ms / 1000.0)) STORED,
    account           text NOT NULL,
    message_id        text,
    client_message_id text,
    carrier_id        text,
    interface         text,
    connector         text,
    source            text,
    destination       text,
    part              smallint,
    parts             smallint,
    data_coding       smallint,
    state             text,
    code              text,
    detail            text
);
CREATE INDEX IF NOT EXISTS smsgw_events_account_kind_at ON smsgw_events (account, kind, at);
CREATE INDEX IF NOT EXISTS smsgw_events_message ON smsgw_events (message_id, kind);
