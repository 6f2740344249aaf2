//! Decoding rows into entities (through the validating value types).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::error::{corrupt, db_err};
use crate::entities::{
    Activity, ActivityStatus, ChatMessage, Group, GroupMember, GroupStatus, MemberRole,
    Notification, Signup, SignupStatus, User,
};
use crate::error::DomainError;
use crate::outbox::OutboxRecord;
use crate::repository::{MemberMark, MemberState};
use crate::types::{
    ActivityId, Capacity, Description, GroupId, Location, Nickname, Timestamp, Title, UserId,
    Username,
};

/// A text column. sqlx 0.8's `Any` driver reports MySQL `TEXT` columns as `BLOB`
/// (transact-rs/sqlx#3390, fixed only in a later, breaking release), so a column that
/// does not decode as text is read as bytes and checked to be UTF-8.
pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, DomainError> {
    match row.try_get::<String, _>(col) {
        Ok(s) => Ok(s),
        Err(sqlx::Error::ColumnDecode { .. }) => {
            let bytes = row.try_get::<Vec<u8>, _>(col).map_err(db_err)?;
            String::from_utf8(bytes)
                .map_err(|_| DomainError::internal(format!("stored {col} is not UTF-8")))
        }
        Err(e) => Err(db_err(e)),
    }
}

/// A nullable text column (see [`text`] for why bytes are accepted).
pub(crate) fn optional_text(row: &AnyRow, col: &str) -> Result<Option<String>, DomainError> {
    match row.try_get::<Option<String>, _>(col) {
        Ok(s) => Ok(s),
        Err(sqlx::Error::ColumnDecode { .. }) => {
            let bytes = row.try_get::<Option<Vec<u8>>, _>(col).map_err(db_err)?;
            bytes
                .map(|b| {
                    String::from_utf8(b)
                        .map_err(|_| DomainError::internal(format!("stored {col} is not UTF-8")))
                })
                .transpose()
        }
        Err(e) => Err(db_err(e)),
    }
}

fn int(row: &AnyRow, col: &str) -> Result<i64, DomainError> {
    row.try_get::<i64, _>(col).map_err(db_err)
}

fn time(row: &AnyRow, col: &str) -> Result<Timestamp, DomainError> {
    int(row, col).map(Timestamp::from_unix_millis)
}

fn optional_time(row: &AnyRow, col: &str) -> Result<Option<Timestamp>, DomainError> {
    row.try_get::<Option<i64>, _>(col)
        .map(|t| t.map(Timestamp::from_unix_millis))
        .map_err(db_err)
}

fn unsigned(row: &AnyRow, col: &str) -> Result<u64, DomainError> {
    u64::try_from(int(row, col)?)
        .map_err(|_| DomainError::internal(format!("stored {col} is negative")))
}

pub(crate) fn user(row: &AnyRow) -> Result<User, DomainError> {
    let bad = |e| corrupt("user", e);
    Ok(User {
        id: UserId::parse(&text(row, "id")?).map_err(bad)?,
        username: Username::parse(&text(row, "username")?).map_err(bad)?,
        nickname: Nickname::parse(&text(row, "nickname")?).map_err(bad)?,
        password_hash: text(row, "password_hash")?,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) fn activity(row: &AnyRow) -> Result<Activity, DomainError> {
    let bad = |e| corrupt("activity", e);
    let group_id = row
        .try_get::<Option<String>, _>("group_id")
        .map_err(db_err)?
        .map(|g| GroupId::parse(&g))
        .transpose()
        .map_err(bad)?;
    Ok(Activity {
        id: ActivityId::parse(&text(row, "id")?).map_err(bad)?,
        organiser_id: UserId::parse(&text(row, "organiser_id")?).map_err(bad)?,
        title: Title::parse(&text(row, "title")?).map_err(bad)?,
        description: Description::parse(&text(row, "description")?).map_err(bad)?,
        location: Location::parse(&text(row, "location")?).map_err(bad)?,
        starts_at: time(row, "starts_at")?,
        capacity: Capacity::new(int(row, "capacity")?).map_err(bad)?,
        requires_approval: int(row, "requires_approval")? != 0,
        status: ActivityStatus::parse(&text(row, "status")?).map_err(bad)?,
        member_count: u32::try_from(int(row, "member_count")?)
            .map_err(|_| DomainError::internal("stored member_count is negative"))?,
        group_id,
        created_at: time(row, "created_at")?,
        updated_at: time(row, "updated_at")?,
        version: int(row, "version")?,
    })
}

pub(crate) fn signup(row: &AnyRow) -> Result<Signup, DomainError> {
    let bad = |e| corrupt("signup", e);
    Ok(Signup {
        activity_id: ActivityId::parse(&text(row, "activity_id")?).map_err(bad)?,
        user_id: UserId::parse(&text(row, "user_id")?).map_err(bad)?,
        status: SignupStatus::parse(&text(row, "status")?).map_err(bad)?,
        at: time(row, "changed_at")?,
    })
}

pub(crate) fn outbox(row: &AnyRow) -> Result<OutboxRecord, DomainError> {
    let metadata = serde_json::from_str(&text(row, "metadata")?)
        .map_err(|e| DomainError::internal(format!("stored outbox metadata is invalid: {e}")))?;
    Ok(OutboxRecord {
        id: int(row, "id")?,
        message_id: text(row, "message_id")?,
        topic: text(row, "topic")?,
        key: text(row, "msg_key")?,
        payload: text(row, "payload")?,
        metadata,
        created_at: time(row, "created_at")?,
    })
}

pub(crate) const GROUP_COLUMNS: &str =
    "id, activity_id, owner_id, status, created_at, dissolved_at";

pub(crate) fn group(row: &AnyRow) -> Result<Group, DomainError> {
    let bad = |e| corrupt("group", e);
    Ok(Group {
        id: GroupId::parse(&text(row, "id")?).map_err(bad)?,
        activity_id: ActivityId::parse(&text(row, "activity_id")?).map_err(bad)?,
        owner_id: UserId::parse(&text(row, "owner_id")?).map_err(bad)?,
        status: GroupStatus::parse(&text(row, "status")?).map_err(bad)?,
        created_at: time(row, "created_at")?,
        dissolved_at: optional_time(row, "dissolved_at")?,
    })
}

pub(crate) const MEMBER_COLUMNS: &str = "group_id, user_id, role, joined_at";

pub(crate) fn group_member(row: &AnyRow) -> Result<GroupMember, DomainError> {
    let bad = |e| corrupt("group member", e);
    Ok(GroupMember {
        group_id: GroupId::parse(&text(row, "group_id")?).map_err(bad)?,
        user_id: UserId::parse(&text(row, "user_id")?).map_err(bad)?,
        role: MemberRole::parse(&text(row, "role")?).map_err(bad)?,
        joined_at: time(row, "joined_at")?,
    })
}

/// A membership register row (`user_id, state, changed_at`).
pub(crate) fn member_mark(row: &AnyRow) -> Result<(UserId, MemberMark), DomainError> {
    let bad = |e| corrupt("activity member state", e);
    Ok((
        UserId::parse(&text(row, "user_id")?).map_err(bad)?,
        MemberMark {
            state: MemberState::parse(&text(row, "state")?).map_err(bad)?,
            at: time(row, "changed_at")?,
        },
    ))
}

/// The `cancelled_at` of an `activity_state` row.
pub(crate) fn cancelled_at(row: &AnyRow) -> Result<Option<Timestamp>, DomainError> {
    optional_time(row, "cancelled_at")
}

pub(crate) const MESSAGE_COLUMNS: &str = "group_id, seq, sender_id, client_msg_id, body, sent_at";

pub(crate) fn chat_message(row: &AnyRow) -> Result<ChatMessage, DomainError> {
    Ok(ChatMessage {
        group_id: GroupId::parse(&text(row, "group_id")?).map_err(|e| corrupt("message", e))?,
        seq: unsigned(row, "seq")?,
        sender_id: text(row, "sender_id")?,
        client_msg_id: text(row, "client_msg_id")?,
        body: text(row, "body")?,
        sent_at: time(row, "sent_at")?,
    })
}

/// The single unsigned integer column `col` (a position or a seq).
pub(crate) fn position(row: &AnyRow, col: &str) -> Result<u64, DomainError> {
    unsigned(row, col)
}

pub(crate) const NOTIFICATION_COLUMNS: &str = "id, user_id, kind, payload, created_at, read_at";

pub(crate) fn notification(row: &AnyRow) -> Result<Notification, DomainError> {
    let payload = serde_json::from_str(&text(row, "payload")?).map_err(|e| {
        DomainError::internal(format!("stored notification payload is invalid: {e}"))
    })?;
    Ok(Notification {
        id: text(row, "id")?,
        user_id: UserId::parse(&text(row, "user_id")?).map_err(|e| corrupt("notification", e))?,
        kind: text(row, "kind")?,
        payload,
        created_at: time(row, "created_at")?,
        read_at: optional_time(row, "read_at")?,
    })
}
