-- Users, activities, sign-ups and the transactional outbox (SQLite).
-- Times are Unix milliseconds (INTEGER); ids are UUID text.

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL,
    nickname      TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);

CREATE TABLE activities (
    id                TEXT    NOT NULL PRIMARY KEY,
    organiser_id      TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    description       TEXT    NOT NULL,
    location          TEXT    NOT NULL,
    starts_at         INTEGER NOT NULL,
    capacity          INTEGER NOT NULL,
    requires_approval INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    member_count      INTEGER NOT NULL,
    group_id          TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    CHECK (member_count >= 0 AND member_count <= capacity)
);
CREATE INDEX activities_upcoming ON activities (status, starts_at, id);
CREATE INDEX activities_organiser ON activities (organiser_id);

CREATE TABLE signups (
    activity_id TEXT    NOT NULL REFERENCES activities (id),
    user_id     TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    changed_at  INTEGER NOT NULL,
    CONSTRAINT signups_activity_user UNIQUE (activity_id, user_id)
);
CREATE INDEX signups_user ON signups (user_id);

CREATE TABLE outbox (
    id           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    message_id   TEXT    NOT NULL,
    topic        TEXT    NOT NULL,
    msg_key      TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    metadata     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    published_at INTEGER
);
CREATE UNIQUE INDEX outbox_message_id ON outbox (message_id);
CREATE INDEX outbox_unpublished ON outbox (published_at, id);
