//! How a [`Message`] is stored as a stream entry, and read back.

use redis::Value;

use crate::message::{Message, Metadata};

const ID: &str = "id";
const KEY: &str = "key";
const METADATA: &str = "md";
const PAYLOAD: &str = "payload";
/// Metadata set on a message read from an entry this backend did not write (no id
/// field, unreadable metadata), saying what was wrong with it.
pub(crate) const MALFORMED: &str = "mq.malformed";

/// Appends the `XADD` field/value arguments for `msg` to `cmd`. The id, key and payload
/// are written straight from the message (no intermediate copies); only metadata, when
/// there is any, is serialized first.
pub(super) fn write_fields(cmd: &mut redis::Cmd, msg: &Message) -> Result<(), serde_json::Error> {
    cmd.arg(ID).arg(msg.id());
    if let Some(key) = msg.key() {
        cmd.arg(KEY).arg(key);
    }
    if !msg.metadata().is_empty() {
        let map: std::collections::BTreeMap<&str, &str> = msg.metadata().iter().collect();
        cmd.arg(METADATA).arg(serde_json::to_vec(&map)?);
    }
    cmd.arg(PAYLOAD).arg(msg.payload().as_ref());
    Ok(())
}

/// One entry of a read reply: its stream id and, unless the entry was trimmed away,
/// the message.
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) message: Option<Message>,
}

/// Why an entry could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed stream entry: {0}")]
pub(super) struct EntryError(pub(super) String);

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

/// Parses `[id, [field, value, ...]]` (the value is nil for an entry trimmed away).
pub(super) fn parse_entry(v: Value) -> Result<Entry, EntryError> {
    let Value::Array(mut pair) = v else {
        return Err(EntryError("entry is not an array".into()));
    };
    if pair.len() != 2 {
        return Err(EntryError("entry is not [id, fields]".into()));
    }
    let raw = pair.pop().unwrap_or(Value::Nil);
    let id = pair
        .first()
        .and_then(text)
        .ok_or_else(|| EntryError("entry id".into()))?;
    let list = match raw {
        Value::Array(list) => list,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        Value::Nil => return Ok(Entry { id, message: None }),
        _ => return Err(EntryError("entry fields".into())),
    };
    let mut msg_id = None;
    let mut key = None;
    let mut metadata = Metadata::default();
    let mut payload = Vec::new();
    let mut problems = Vec::new();
    let mut it = list.into_iter();
    while let (Some(name), Some(value)) = (it.next(), it.next()) {
        match text(&name).as_deref() {
            Some(ID) => msg_id = text(&value),
            Some(KEY) => key = text(&value),
            Some(METADATA) => {
                let raw = bytes(value).unwrap_or_default();
                match serde_json::from_slice::<std::collections::BTreeMap<String, String>>(&raw) {
                    Ok(map) => metadata = map.into_iter().collect(),
                    Err(e) => {
                        problems.push(format!("metadata is not a JSON object of strings: {e}"))
                    }
                }
            }
            Some(PAYLOAD) => payload = bytes(value).unwrap_or_default(),
            _ => {}
        }
    }
    // An entry another producer wrote in another shape still becomes a message, so the
    // handler (and behind it the poison queue) decides about it: a malformed entry must
    // never stop its stream.
    let msg_id = msg_id.unwrap_or_else(|| {
        problems.push("no message id field".into());
        id.clone()
    });
    let mut message = Message::with_id(msg_id, payload);
    message.set_key(key);
    *message.metadata_mut() = metadata;
    if !problems.is_empty() {
        message
            .metadata_mut()
            .insert(MALFORMED, problems.join("; "));
    }
    Ok(Entry {
        id,
        message: Some(message),
    })
}

/// Parses an `XREADGROUP` reply: `[[stream, [entry, ...]], ...]` (RESP2) or a map (RESP3).
pub(super) fn parse_read(v: Value) -> Result<Vec<(String, Vec<Entry>)>, EntryError> {
    let streams: Vec<(Value, Value)> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop().unwrap_or(Value::Nil);
                    let key = kv.pop().unwrap_or(Value::Nil);
                    Ok((key, entries))
                }
                _ => Err(EntryError("stream reply".into())),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(pairs) => pairs,
        _ => return Err(EntryError("read reply".into())),
    };
    streams
        .into_iter()
        .map(|(key, entries)| {
            let key = text(&key).ok_or_else(|| EntryError("stream key".into()))?;
            let entries = match entries {
                Value::Array(list) => list
                    .into_iter()
                    .map(parse_entry)
                    .collect::<Result<_, _>>()?,
                Value::Nil => Vec::new(),
                _ => return Err(EntryError("entries".into())),
            };
            Ok((key, entries))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    #[test]
    fn round_trip_through_fields() {
        let msg = Message::new(vec![0u8, 1, 2, 255])
            .with_key("k")
            .with_metadata("a", "ü");
        let mut cmd = redis::cmd("XADD");
        write_fields(&mut cmd, &msg).unwrap();
        let list = cmd
            .args_iter()
            .skip(1) // the command name
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => bulk(bytes),
                _ => Value::Nil,
            })
            .collect();
        let entry = parse_entry(Value::Array(vec![bulk(b"1-0"), Value::Array(list)])).unwrap();
        assert_eq!(entry.id, "1-0");
        assert_eq!(entry.message.unwrap(), msg);
    }

    #[test]
    fn trimmed_entry_has_no_message() {
        let entry = parse_entry(Value::Array(vec![bulk(b"5-1"), Value::Nil])).unwrap();
        assert!(entry.message.is_none());
    }

    #[test]
    fn malformed_entries_are_errors() {
        assert!(parse_entry(Value::Int(1)).is_err());
        let no_id = Value::Array(vec![
            bulk(b"1-0"),
            Value::Array(vec![bulk(b"payload"), bulk(b"x"), bulk(b"md"), bulk(b"{")]),
        ]);
        let foreign = parse_entry(no_id).unwrap().message.unwrap();
        assert_eq!(foreign.id(), "1-0");
        assert_eq!(foreign.payload().as_ref(), b"x");
        let why = foreign.metadata().get(MALFORMED).unwrap();
        assert!(
            why.contains("no message id") && why.contains("metadata"),
            "{why}"
        );
    }
}
