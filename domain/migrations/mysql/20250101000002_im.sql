-- The IM service: groups and their members, chat messages, read/delivered positions,
-- notifications, and the inbox of consumed events (MySQL 8 / MariaDB 10.6+).
-- Times are Unix milliseconds (BIGINT). The group table is `chat_groups`: GROUPS is a
-- reserved word in MySQL 8.

CREATE TABLE chat_groups (
    id           VARCHAR(64) NOT NULL PRIMARY KEY,
    activity_id  VARCHAR(36) NOT NULL,
    owner_id     VARCHAR(36) NOT NULL,
    status       VARCHAR(16) NOT NULL,
    created_at   BIGINT      NOT NULL,
    dissolved_at BIGINT      NULL,
    UNIQUE KEY chat_groups_activity (activity_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Dissolving keeps the rows; leaving or removal deletes the row.
CREATE TABLE group_members (
    group_id  VARCHAR(64) NOT NULL,
    user_id   VARCHAR(36) NOT NULL,
    role      VARCHAR(16) NOT NULL,
    joined_at BIGINT      NOT NULL,
    UNIQUE KEY group_members_group_user (group_id, user_id),
    KEY group_members_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- seq: 1, 2, 3, ... per group; a retried send maps to its first row by the dedup key.
CREATE TABLE messages (
    group_id      VARCHAR(64)  NOT NULL,
    seq           BIGINT       NOT NULL,
    sender_id     VARCHAR(64)  NOT NULL,
    client_msg_id VARCHAR(128) NOT NULL,
    body          MEDIUMTEXT   NOT NULL,
    sent_at       BIGINT       NOT NULL,
    PRIMARY KEY (group_id, seq),
    UNIQUE KEY messages_dedup (group_id, sender_id, client_msg_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE message_positions (
    group_id      VARCHAR(64) NOT NULL,
    user_id       VARCHAR(64) NOT NULL,
    read_seq      BIGINT      NOT NULL,
    delivered_seq BIGINT      NOT NULL,
    PRIMARY KEY (group_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE notifications (
    id              VARCHAR(36) NOT NULL PRIMARY KEY,
    user_id         VARCHAR(36) NOT NULL,
    kind            VARCHAR(64) NOT NULL,
    payload         TEXT        NOT NULL,
    source_event_id VARCHAR(64) NOT NULL,
    created_at      BIGINT      NOT NULL,
    read_at         BIGINT      NULL,
    UNIQUE KEY notifications_user_event (user_id, source_event_id),
    KEY notifications_user_id (user_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Idempotent consumption: a handler records (consumer, event message id) in the
-- transaction of its change; a row already there means "already processed".
CREATE TABLE inbox (
    consumer     VARCHAR(64) NOT NULL,
    message_id   VARCHAR(64) NOT NULL,
    processed_at BIGINT      NOT NULL,
    PRIMARY KEY (consumer, message_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
