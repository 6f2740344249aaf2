-- Users, activities, sign-ups and the transactional outbox (MySQL 8 / MariaDB 10.6+).
-- Times are Unix milliseconds (BIGINT); ids are UUID text. Text columns use
-- utf8mb4_bin: stored verbatim, compared exactly (case-insensitive username
-- uniqueness comes from username_key, which the application lowercases).

CREATE TABLE users (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    username      VARCHAR(32)  NOT NULL,
    username_key  VARCHAR(32)  NOT NULL,
    nickname      VARCHAR(64)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT       NOT NULL,
    updated_at    BIGINT       NOT NULL,
    UNIQUE KEY users_username_key (username_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE activities (
    id                VARCHAR(36)  NOT NULL PRIMARY KEY,
    organiser_id      VARCHAR(36)  NOT NULL,
    title             VARCHAR(100) NOT NULL,
    description       TEXT         NOT NULL,
    location          VARCHAR(200) NOT NULL,
    starts_at         BIGINT       NOT NULL,
    capacity          BIGINT       NOT NULL,
    requires_approval BIGINT       NOT NULL,
    status            VARCHAR(16)  NOT NULL,
    member_count      BIGINT       NOT NULL,
    group_id          VARCHAR(64)  NULL,
    created_at        BIGINT       NOT NULL,
    updated_at        BIGINT       NOT NULL,
    version           BIGINT       NOT NULL,
    KEY activities_upcoming (status, starts_at, id),
    KEY activities_organiser (organiser_id),
    CONSTRAINT activities_members CHECK (member_count >= 0 AND member_count <= capacity)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE signups (
    activity_id VARCHAR(36) NOT NULL,
    user_id     VARCHAR(36) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    changed_at  BIGINT      NOT NULL,
    UNIQUE KEY signups_activity_user (activity_id, user_id),
    KEY signups_user (user_id),
    CONSTRAINT signups_activity FOREIGN KEY (activity_id) REFERENCES activities (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE outbox (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    message_id   VARCHAR(36)  NOT NULL,
    topic        VARCHAR(249) NOT NULL,
    msg_key      VARCHAR(128) NOT NULL,
    payload      MEDIUMTEXT   NOT NULL,
    metadata     TEXT         NOT NULL,
    created_at   BIGINT       NOT NULL,
    published_at BIGINT       NULL,
    UNIQUE KEY outbox_message_id (message_id),
    KEY outbox_unpublished (published_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
