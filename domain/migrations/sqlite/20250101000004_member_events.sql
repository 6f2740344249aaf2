-- The activity events arrive on four topics, each by its own consumer, so in any
-- order. The IM side keeps what it learnt of each activity so that the outcome does
-- not depend on that order (SQLite; times are Unix milliseconds).

-- One row per activity an event was seen for: every activity-event handler writes it
-- first (on MySQL this lock serialises the handlers of one activity), and it records
-- the cancellation (the event's own time) even when the group does not exist yet.
CREATE TABLE activity_state (
    activity_id  TEXT    NOT NULL PRIMARY KEY,
    cancelled_at INTEGER
);

-- Membership per (activity, user): a last-writer-wins register on the time of the
-- joined/left event (set by the activity service); on a tie 'out' wins.
CREATE TABLE activity_member_state (
    activity_id TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    changed_at  INTEGER NOT NULL,
    PRIMARY KEY (activity_id, user_id)
);
