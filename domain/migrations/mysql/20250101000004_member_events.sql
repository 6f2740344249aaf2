-- The activity events arrive on four topics, each by its own consumer, so in any
-- order. The IM side keeps what it learnt of each activity so that the outcome does
-- not depend on that order (MySQL 8 / MariaDB 10.6+; times are Unix milliseconds).

-- One row per activity an event was seen for: every activity-event handler locks it
-- first (which serialises the handlers of one activity), and it records the
-- cancellation (the event's own time) even when the group does not exist yet.
CREATE TABLE activity_state (
    activity_id  VARCHAR(36) NOT NULL PRIMARY KEY,
    cancelled_at BIGINT      NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Membership per (activity, user): a last-writer-wins register on the time of the
-- joined/left event (set by the activity service); on a tie 'out' wins.
CREATE TABLE activity_member_state (
    activity_id VARCHAR(36) NOT NULL,
    user_id     VARCHAR(36) NOT NULL,
    state       VARCHAR(3)  NOT NULL,
    changed_at  BIGINT      NOT NULL,
    PRIMARY KEY (activity_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
