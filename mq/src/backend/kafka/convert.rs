//! Messages to Kafka records and back: the key is the record key, the id and the
//! metadata are headers.

use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::Message as _;

use crate::message::{Message, Metadata};

/// The header holding [`Message::id`].
pub(super) const ID_HEADER: &str = "mq-id";

pub(super) fn headers(msg: &Message) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(1 + msg.metadata().len()).insert(Header {
        key: ID_HEADER,
        value: Some(msg.id().as_bytes()),
    });
    for (k, v) in msg.metadata().iter() {
        headers = headers.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    headers
}

/// An owned [`Message`] from a received record. Records written by other producers
/// (no id header) get the id `topic/partition/offset`.
pub(super) fn message(record: &BorrowedMessage<'_>) -> Message {
    let mut id = None;
    let mut metadata = Metadata::default();
    if let Some(headers) = record.headers() {
        for h in headers.iter() {
            let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
            // The id header is written first; a metadata entry that happens to be named
            // like it comes later and stays metadata.
            if h.key == ID_HEADER && id.is_none() {
                id = Some(value.into_owned());
            } else {
                metadata.insert(h.key, value);
            }
        }
    }
    let id = id.unwrap_or_else(|| {
        format!(
            "{}/{}/{}",
            record.topic(),
            record.partition(),
            record.offset()
        )
    });
    let mut msg = Message::with_id(id, record.payload().map(<[u8]>::to_vec).unwrap_or_default());
    msg.set_key(
        record
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
    );
    *msg.metadata_mut() = metadata;
    msg
}
