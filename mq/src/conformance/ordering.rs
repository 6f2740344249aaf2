//! Per-key order under concurrent handling.

use tokio::sync::mpsc;

use super::error::ConformanceError;
use super::support::{
    check_exactly_once, check_key_order, collect, connect, expect_no_more, new_topic, numbered,
    unique_name, Member, Mix,
};
use super::{Backend, Features};
use crate::message::Message;

/// [`Features::messages`] messages over 24 keys, interleaved pseudo-randomly, are
/// handled by one member with four lane workers (so lanes are handled concurrently,
/// and each lane in order, as the router does): every key's messages are handled
/// exactly once, in publish order, and keys never change lanes.
pub async fn per_key_order(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    const KEYS: usize = 24;
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "order").await?;
    let group = unique_name("group");
    let (tx, mut events) = mpsc::unbounded_channel();
    let member = Member::spawn(0, client.subscribe(&topic, &group).await?, 4, 16, tx);

    let mut mix = Mix::new(0x000d_de12);
    let published: Vec<Message> = (0..features.messages.max(KEYS))
        .map(|i| {
            numbered(
                "per_key_order",
                i,
                Some(format!("order-key-{}", mix.below(KEYS))),
            )
        })
        .collect();
    for chunk in published.chunks(50) {
        client.publish(&topic, chunk.to_vec()).await?;
    }
    let handled = collect(
        &mut events,
        published.len(),
        features.receive_timeout,
        "keyed messages",
    )
    .await?;
    let messages: Vec<&Message> = handled.iter().map(|h| &h.message).collect();
    check_exactly_once(&published, messages.iter().copied())?;
    check_key_order(&published, messages.iter().copied())?;
    expect_no_more(
        &mut events,
        features.quiet(),
        "every message was acknowledged",
    )
    .await?;
    member.stop().await?;
    client.close().await
}
