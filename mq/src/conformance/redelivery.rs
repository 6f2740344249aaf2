//! Settling: rejection, dropping, acknowledgement and leaving a group.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use super::error::ConformanceError;
use super::support::{
    check_batch, check_exactly_once, check_key_order, connect, label, new_topic, numbered,
    unique_name, Probe,
};
use super::{Backend, Features};
use crate::delivery::{Batch, Delivery};
use crate::error::Error;
use crate::message::Message;

/// Fails unless `got` is `want`, unchanged.
fn expect_message(got: &Delivery, want: &Message, context: &str) -> Result<(), ConformanceError> {
    if got.message().id() != want.id() {
        return Err(ConformanceError::violation(format!(
            "{context}: expected message {}, got {}",
            label(want),
            label(got.message())
        )));
    }
    if got.message() != want {
        return Err(ConformanceError::violation(format!(
            "{context}: message {} changed between deliveries",
            label(want)
        )));
    }
    Ok(())
}

/// A rejected message comes back with the same id and a higher attempt, before any
/// message behind it in its lane is handled; it comes back no sooner than about the
/// declared [`Features::redelivery_delay`], and rejecting it again and again for a
/// few delays yields a few redeliveries, not a hot loop. Once acknowledged, the rest
/// of its lane follows in order.
pub async fn nack_redelivery(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "nack").await?;
    let group = unique_name("group");
    let mut probe = client.probe(&topic, &group, 16).await?;
    let published: Vec<Message> = (0..5)
        .map(|i| numbered("nack_redelivery", i, Some("the-lane".to_owned())))
        .collect();
    client.publish(&topic, published.clone()).await?;

    let first = probe
        .expect(features.receive_timeout, "the first message")
        .await?;
    expect_message(&first, &published[0], "first delivery")?;
    if first.attempt() != 1 {
        return Err(ConformanceError::violation(format!(
            "the first delivery has attempt {}",
            first.attempt()
        )));
    }
    let rejected_at = Instant::now();
    first.nack();
    probe.drop_pending();

    let again = probe
        .expect(
            features.redelivery_bound(),
            "the rejected message to be delivered again",
        )
        .await?;
    let waited = rejected_at.elapsed();
    expect_message(
        &again,
        &published[0],
        "after a rejection, the next message handled in the lane",
    )?;
    if again.attempt() < 2 {
        return Err(ConformanceError::violation(format!(
            "a redelivered message has attempt {}",
            again.attempt()
        )));
    }
    if waited < features.redelivery_delay / 2 {
        return Err(ConformanceError::violation(format!(
            "a rejected message came back after {waited:?}, sooner than half the declared redelivery delay of {:?}",
            features.redelivery_delay
        )));
    }

    // Keep rejecting it for a few delays: a hot loop would deliver it thousands of times.
    let delay = features.redelivery_delay.max(Duration::from_millis(1));
    let window = delay.saturating_mul(5);
    let window_end = Instant::now() + window;
    let mut deliveries = 1u128;
    let mut last_attempt = again.attempt();
    again.nack();
    probe.drop_pending();
    while let Some(d) = probe.next_until(window_end).await? {
        expect_message(&d, &published[0], "while a message is rejected repeatedly")?;
        if d.attempt() <= last_attempt {
            return Err(ConformanceError::violation(format!(
                "attempt went from {last_attempt} to {} between redeliveries",
                d.attempt()
            )));
        }
        last_attempt = d.attempt();
        deliveries += 1;
        d.nack();
        probe.drop_pending();
    }
    let allowed = 2 * (window.as_nanos() / delay.as_nanos()) + 2;
    if deliveries > allowed {
        return Err(ConformanceError::violation(format!(
            "hot loop: a message rejected every time was delivered {deliveries} times within {window:?} (redelivery delay {delay:?}, at most {allowed} expected)"
        )));
    }

    let accepted = probe
        .expect(
            features.redelivery_bound(),
            "the rejected message to come back once more",
        )
        .await?;
    expect_message(&accepted, &published[0], "after repeated rejections")?;
    accepted.ack();
    for (i, want) in published.iter().enumerate().skip(1) {
        let d = probe
            .expect(
                features.receive_timeout,
                &format!("message {i} of the lane after the rejected one was acknowledged"),
            )
            .await?;
        expect_message(&d, want, "the rest of the lane")?;
        d.ack();
    }
    probe
        .expect_nothing(features.quiet(), "the whole lane was acknowledged")
        .await?;
    probe.close().await?;
    client.close().await
}

/// Dropping a delivery without settling it rejects it: the message is delivered
/// again (same id, higher attempt), before the message behind it.
pub async fn drop_is_nack(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "drop").await?;
    let group = unique_name("group");
    let mut probe = client.probe(&topic, &group, 16).await?;
    let published: Vec<Message> = (0..2)
        .map(|i| numbered("drop_is_nack", i, Some("dropped".to_owned())))
        .collect();
    client.publish(&topic, published.clone()).await?;

    let first = probe
        .expect(features.receive_timeout, "the first message")
        .await?;
    expect_message(&first, &published[0], "first delivery")?;
    drop(first);
    probe.drop_pending();
    let again = probe
        .expect(
            features.redelivery_bound(),
            "a dropped delivery to be delivered again",
        )
        .await?;
    expect_message(&again, &published[0], "after dropping a delivery")?;
    if again.attempt() < 2 {
        return Err(ConformanceError::violation(format!(
            "a message delivered again after a drop has attempt {}",
            again.attempt()
        )));
    }
    again.ack();
    let second = probe
        .expect(features.receive_timeout, "the second message")
        .await?;
    expect_message(
        &second,
        &published[1],
        "after the dropped one was acknowledged",
    )?;
    second.ack();
    probe
        .expect_nothing(features.quiet(), "both messages were acknowledged")
        .await?;
    probe.close().await?;
    client.close().await
}

/// An acknowledged message is never delivered to its group again: not to the member
/// that acknowledged it (the next delivery is the next message), and not to a new
/// member that joins after the first one left.
pub async fn ack_is_final(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "ack").await?;
    let group = unique_name("group");
    let mut probe = client.probe(&topic, &group, 16).await?;
    let published: Vec<Message> = (0..3)
        .map(|i| numbered("ack_is_final", i, Some("acked".to_owned())))
        .collect();

    client.publish(&topic, vec![published[0].clone()]).await?;
    let d = probe
        .expect(features.receive_timeout, "the first message")
        .await?;
    expect_message(&d, &published[0], "first delivery")?;
    d.ack();
    client.publish(&topic, vec![published[1].clone()]).await?;
    let d = probe
        .expect(features.receive_timeout, "the second message")
        .await?;
    expect_message(
        &d,
        &published[1],
        "the delivery after an acknowledged message",
    )?;
    d.ack();
    probe
        .expect_nothing(features.quiet(), "both messages were acknowledged")
        .await?;
    probe.close().await?;

    let other = connect(backend).await?;
    let mut probe = other.probe(&topic, &group, 16).await?;
    probe
        .expect_nothing(
            features.quiet(),
            "a new member must not receive messages its group acknowledged",
        )
        .await?;
    client.publish(&topic, vec![published[2].clone()]).await?;
    let d = probe
        .expect(
            features.receive_timeout,
            "a message published to the new member",
        )
        .await?;
    expect_message(&d, &published[2], "the new member's first delivery")?;
    d.ack();
    probe.close().await?;
    other.close().await?;
    client.close().await
}

/// A member takes half the messages, acknowledges the first half of what it took in
/// each lane, and closes while holding the rest. A new member of the group (from a
/// new [`Backend::connect`]) then receives exactly the messages that were not
/// acknowledged (the held ones again, and those never taken), in per-key order, and
/// none that were.
pub async fn close_and_resume(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    const COUNT: usize = 40;
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "resume").await?;
    let group = unique_name("group");
    let mut probe = client.probe(&topic, &group, 8).await?;
    let published: Vec<Message> = (0..COUNT)
        .map(|i| numbered("close_and_resume", i, Some(format!("resume-{}", i % 4))))
        .collect();
    client.publish(&topic, published.clone()).await?;

    let mut taken: BTreeMap<u32, Vec<Delivery>> = BTreeMap::new();
    for i in 0..COUNT / 2 {
        let d = probe
            .expect(
                features.receive_timeout,
                &format!("message {} of {}", i + 1, COUNT / 2),
            )
            .await?;
        let lane = d.token().map_or(u32::MAX, |t| t.lane);
        taken.entry(lane).or_default().push(d);
    }
    let mut acked = HashSet::new();
    let mut held = Vec::new();
    for deliveries in taken.into_values() {
        let half = deliveries.len() / 2;
        for (i, d) in deliveries.into_iter().enumerate() {
            if i < half {
                acked.insert(d.message().id().to_owned());
                d.ack();
            } else {
                held.push(d);
            }
        }
    }
    // Close while still holding deliveries; settling them afterwards must not matter.
    probe.close().await?;
    drop(held);

    let expected: Vec<Message> = published
        .iter()
        .filter(|m| !acked.contains(m.id()))
        .cloned()
        .collect();
    let resumed = connect(backend).await?;
    let mut probe: Probe = resumed.probe(&topic, &group, 8).await?;
    let mut received = Vec::with_capacity(expected.len());
    while received.len() < expected.len() {
        let d = probe
            .next_within(features.redelivery_bound())
            .await?
            .ok_or_else(|| ConformanceError::Timeout {
                waiting_for: format!(
                    "the new member to receive the {} unacknowledged messages (got {})",
                    expected.len(),
                    received.len()
                ),
                after: features.redelivery_bound(),
            })?;
        if acked.contains(d.message().id()) {
            return Err(ConformanceError::violation(format!(
                "the new member received message {}, acknowledged by the member that left",
                label(d.message())
            )));
        }
        received.push(d.message().clone());
        d.ack();
    }
    check_exactly_once(&expected, &received)?;
    check_key_order(&expected, &received)?;
    probe
        .expect_nothing(features.quiet(), "every message was acknowledged")
        .await?;
    probe.close().await?;
    resumed.close().await?;
    client.close().await
}

/// Rejecting a delivery makes every later delivery of its lane that the subscription
/// already handed out stale ([`Delivery::is_stale`]), including later batches, so a
/// consumer handling batches of one lane one after another never handles them before
/// the rejected message; settling them has no effect. The lane is then delivered
/// again from the rejected message, in order.
pub async fn rejection_rewinds_lane(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "rewind").await?;
    let group = unique_name("group");
    let mut sub = client.subscribe(&topic, &group).await?;
    let published: Vec<Message> = (0..6)
        .map(|i| numbered("rejection_rewinds_lane", i, Some("rewound".to_owned())))
        .collect();
    client.publish(&topic, published.clone()).await?;

    let mut key_lanes = std::collections::HashMap::new();
    let fetch = |r: Result<Result<Option<Batch>, Error>, tokio::time::error::Elapsed>| match r {
        Err(_) => Ok(None),
        Ok(Err(source)) => Err(ConformanceError::Backend {
            during: "fetching a batch".to_owned(),
            source,
        }),
        Ok(Ok(None)) => Err(ConformanceError::violation(
            "next_batch returned None (closed) on an open subscription",
        )),
        Ok(Ok(Some(batch))) => Ok(Some(batch)),
    };
    let first = fetch(tokio::time::timeout(features.receive_timeout, sub.next_batch(2)).await)?
        .ok_or_else(|| ConformanceError::Timeout {
            waiting_for: "the first batch".to_owned(),
            after: features.receive_timeout,
        })?;
    check_batch(&first, 2, &mut key_lanes)?;
    // A backend may hand the same member the next batch of the lane at once, or hold
    // it back until the first is settled: both are fine.
    let second = fetch(tokio::time::timeout(features.quiet(), sub.next_batch(2)).await)?;
    if let Some(second) = &second {
        check_batch(second, 2, &mut key_lanes)?;
    }

    let mut rest = first.deliveries.into_iter();
    let Some(head) = rest.next() else {
        return Err(ConformanceError::violation(
            "next_batch returned an empty batch",
        ));
    };
    expect_message(&head, &published[0], "first delivery")?;
    head.nack();
    let later: Vec<Delivery> = rest
        .chain(second.into_iter().flat_map(|b| b.deliveries))
        .collect();
    if let Some(fresh) = later.iter().find(|d| !d.is_stale()) {
        return Err(ConformanceError::violation(format!(
            "after message {} was rejected, message {} of the same lane (already handed out) is not stale: a consumer would handle it before the rejected message",
            label(&published[0]),
            label(fresh.message())
        )));
    }
    // A careless consumer settles them anyway: that must not move the lane past the
    // rejected message.
    later.into_iter().for_each(Delivery::ack);

    let mut probe = Probe::new(sub, 2);
    for (i, want) in published.iter().enumerate() {
        let d = probe
            .expect(
                features.redelivery_bound(),
                &format!("message {i} of the rewound lane"),
            )
            .await?;
        expect_message(&d, want, "the lane delivered again after a rejection")?;
        d.ack();
    }
    probe
        .expect_nothing(features.quiet(), "the whole lane was acknowledged")
        .await?;
    probe.close().await?;
    client.close().await
}
