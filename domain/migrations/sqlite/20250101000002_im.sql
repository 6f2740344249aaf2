-- The IM service: groups and their members, chat messages, read/delivered positions,
-- notifications, and the inbox of consumed events (SQLite).
-- Times are Unix milliseconds (INTEGER). The group table is `chat_groups` (GROUPS is a
-- reserved word in MySQL 8; both dialects use the same name).

CREATE TABLE chat_groups (
    id           TEXT    NOT NULL PRIMARY KEY,
    activity_id  TEXT    NOT NULL,
    owner_id     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    dissolved_at INTEGER
);
CREATE UNIQUE INDEX chat_groups_activity ON chat_groups (activity_id);

-- Dissolving keeps the rows; leaving or removal deletes the row.
CREATE TABLE group_members (
    group_id  TEXT    NOT NULL,
    user_id   TEXT    NOT NULL,
    role      TEXT    NOT NULL,
    joined_at INTEGER NOT NULL,
    CONSTRAINT group_members_group_user UNIQUE (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- seq: 1, 2, 3, ... per group; a retried send maps to its first row by the dedup key.
CREATE TABLE messages (
    group_id      TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    sender_id     TEXT    NOT NULL,
    client_msg_id TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    sent_at       INTEGER NOT NULL,
    PRIMARY KEY (group_id, seq),
    CONSTRAINT messages_dedup UNIQUE (group_id, sender_id, client_msg_id)
);

CREATE TABLE message_positions (
    group_id      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    read_seq      INTEGER NOT NULL,
    delivered_seq INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE notifications (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    source_event_id TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    read_at         INTEGER,
    CONSTRAINT notifications_user_event UNIQUE (user_id, source_event_id)
);
CREATE INDEX notifications_user_id ON notifications (user_id, id);

-- Idempotent consumption: a handler records (consumer, event message id) in the
-- transaction of its change; a row already there means "already processed".
CREATE TABLE inbox (
    consumer     TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    processed_at INTEGER NOT NULL,
    PRIMARY KEY (consumer, message_id)
);
