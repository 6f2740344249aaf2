//! SQL text shared by both dialects (both use `?` placeholders).

pub(crate) const USER_COLUMNS: &str = "id, username, nickname, password_hash, created_at";

pub(crate) const INSERT_USER: &str = "INSERT INTO users \
    (id, username, username_key, nickname, password_hash, created_at, updated_at) \
    VALUES (?, ?, ?, ?, ?, ?, ?)";

pub(crate) const UPDATE_NICKNAME: &str =
    "UPDATE users SET nickname = ?, updated_at = ? WHERE id = ?";

pub(crate) const ACTIVITY_COLUMNS: &str = "id, organiser_id, title, description, location, \
    starts_at, capacity, requires_approval, status, member_count, group_id, created_at, \
    updated_at, version";

pub(crate) const INSERT_ACTIVITY: &str = "INSERT INTO activities \
    (id, organiser_id, title, description, location, starts_at, capacity, requires_approval, \
     status, member_count, group_id, created_at, updated_at, version) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The organiser's edit: only when nobody changed the row since it was read, and never
/// below the current member count.
pub(crate) const UPDATE_ACTIVITY: &str = "UPDATE activities SET title = ?, description = ?, \
    location = ?, starts_at = ?, capacity = ?, requires_approval = ?, status = ?, \
    updated_at = ?, version = version + 1 \
    WHERE id = ? AND version = ? AND member_count <= ?";

/// The capacity guard: a place is taken only while one is free and the activity is open.
pub(crate) const JOIN_MEMBER: &str = "UPDATE activities SET member_count = member_count + 1 \
    WHERE id = ? AND member_count < capacity AND status = 'open'";

/// The organiser always stays, so the count never drops below one.
pub(crate) const LEAVE_MEMBER: &str = "UPDATE activities SET member_count = member_count - 1 \
    WHERE id = ? AND member_count > 1";

pub(crate) const SET_GROUP: &str = "UPDATE activities SET group_id = ?, updated_at = ? \
    WHERE id = ? AND (group_id IS NULL OR group_id = ?)";

pub(crate) const SIGNUP_COLUMNS: &str = "activity_id, user_id, status, changed_at";

pub(crate) const INSERT_SIGNUP: &str =
    "INSERT INTO signups (activity_id, user_id, status, changed_at) VALUES (?, ?, ?, ?)";

/// Changes a sign-up only from the status it was read with.
pub(crate) const UPDATE_SIGNUP: &str = "UPDATE signups SET status = ?, changed_at = ? \
    WHERE activity_id = ? AND user_id = ? AND status = ?";

pub(crate) const INSERT_OUTBOX: &str = "INSERT INTO outbox \
    (message_id, topic, msg_key, payload, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?)";

pub(crate) const SELECT_UNPUBLISHED: &str = "SELECT id, message_id, topic, msg_key, payload, \
    metadata, created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?";

/// `?, ?, ?` for an `IN (...)` list of `n` values.
pub(crate) fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 3);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('?');
    }
    s
}
