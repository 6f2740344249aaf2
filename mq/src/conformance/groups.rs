//! Consumer groups: every group gets everything; members of a group share it.

use tokio::sync::mpsc;

use super::error::ConformanceError;
use super::support::{
    check_exactly_once, check_key_order, collect, collect_all_ids, connect, expect_no_more,
    first_handlings, new_topic, numbered, unique_name, Member,
};
use super::{Backend, Features};
use crate::message::Message;

fn keyed(origin: &str, count: usize, keys: usize) -> Vec<Message> {
    (0..count)
        .map(|i| numbered(origin, i, Some(format!("{origin}-{}", i % keys))))
        .collect()
}

/// Two consumer groups of one topic each handle every message exactly once, in
/// per-key order.
pub async fn consumer_groups_each_get_all(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "groups").await?;
    let (tx_a, mut events_a) = mpsc::unbounded_channel();
    let (tx_b, mut events_b) = mpsc::unbounded_channel();
    let a = Member::spawn(
        0,
        client.subscribe(&topic, &unique_name("a")).await?,
        2,
        32,
        tx_a,
    );
    let b = Member::spawn(
        1,
        client.subscribe(&topic, &unique_name("b")).await?,
        2,
        32,
        tx_b,
    );

    let published = keyed("groups", features.messages, 16);
    for chunk in published.chunks(100) {
        client.publish(&topic, chunk.to_vec()).await?;
    }
    for (name, events) in [("group a", &mut events_a), ("group b", &mut events_b)] {
        let handled = collect(
            events,
            published.len(),
            features.receive_timeout,
            &format!("messages of {name}"),
        )
        .await?;
        let messages: Vec<&Message> = handled.iter().map(|h| &h.message).collect();
        check_exactly_once(&published, messages.iter().copied())
            .and_then(|()| check_key_order(&published, messages.iter().copied()))
            .map_err(|err| match err {
                ConformanceError::Violation(detail) => {
                    ConformanceError::violation(format!("{name}: {detail}"))
                }
                other => other,
            })?;
    }
    expect_no_more(
        &mut events_a,
        features.quiet(),
        "group a acknowledged everything",
    )
    .await?;
    expect_no_more(
        &mut events_b,
        features.quiet(),
        "group b acknowledged everything",
    )
    .await?;
    a.stop().await?;
    b.stop().await?;
    client.close().await
}

/// Two members of one group, each acknowledging what it handles, share the messages:
/// every message is handled by exactly one of them, and every key's messages are
/// handled in publish order across both (a lane with unsettled deliveries is never
/// handed to the other member).
pub async fn consumer_group_members_split(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let first = connect(backend).await?;
    let second = connect(backend).await?;
    let topic = new_topic(backend, features, "split").await?;
    let group = unique_name("group");
    let (tx, mut events) = mpsc::unbounded_channel();
    let m0 = Member::spawn(0, first.subscribe(&topic, &group).await?, 2, 8, tx.clone());
    let m1 = Member::spawn(1, second.subscribe(&topic, &group).await?, 2, 8, tx);

    let published = keyed("split", features.messages, 32);
    for chunk in published.chunks(100) {
        first.publish(&topic, chunk.to_vec()).await?;
    }
    if features.rebalance_duplicates {
        // Every message at least once; duplicates only from the join's rebalance.
        let handled = collect_all_ids(
            &mut events,
            &published,
            features.receive_timeout,
            "messages of a group with two members",
        )
        .await?;
        let messages: Vec<&Message> = handled.iter().map(|h| &h.message).collect();
        let first = first_handlings(messages.iter().copied());
        check_exactly_once(&published, first.iter().copied())?;
        check_key_order(&published, first.iter().copied())?;
        let again = messages.len() - first.len();
        if again > 0 {
            tracing::info!(
                again,
                "messages handled twice around the join's rebalance (allowed by rebalance_duplicates)"
            );
        }
        // Late redeliveries of the rebalance may still arrive for a quiet period (each
        // one a message already counted); a problem reported meanwhile still fails.
        let settle = async {
            while let Some(event) = events.recv().await {
                if let super::support::Event::Problem(err) = event {
                    return Err(err);
                }
            }
            Ok(())
        };
        if let Ok(result) = tokio::time::timeout(features.quiet(), settle).await {
            result?;
        }
    } else {
        let handled = collect(
            &mut events,
            published.len(),
            features.receive_timeout,
            "messages of a group with two members",
        )
        .await?;
        let messages: Vec<&Message> = handled.iter().map(|h| &h.message).collect();
        check_exactly_once(&published, messages.iter().copied())?;
        check_key_order(&published, messages.iter().copied())?;
    }
    expect_no_more(
        &mut events,
        features.quiet(),
        "the group acknowledged everything",
    )
    .await?;
    m0.stop().await?;
    m1.stop().await?;
    first.close().await?;
    second.close().await
}
