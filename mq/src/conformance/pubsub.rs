//! Publishing and subscribing: everything arrives, intact, on the right topic.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, Barrier};

use super::error::ConformanceError;
use super::support::{
    check_exactly_once, check_key_order, collect, connect, expect_no_more, label, new_topic,
    numbered, unique_name, Client, Member, Mix, ORIGIN,
};
use super::{Backend, Features};
use crate::message::Message;

/// [`Features::messages`] messages (keyed over ten keys, some without a key, with
/// unicode and empty metadata values and binary payloads), published in calls of
/// 1, 7 and 100 messages, all arrive exactly once, on the first attempt, with id,
/// key, metadata and payload unchanged and every key in publish order; nothing more
/// arrives after they are acknowledged.
pub async fn publish_subscribe(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "pubsub").await?;
    let group = unique_name("group");
    let mut probe = client.probe(&topic, &group, 64).await?;

    let keys = [
        "key-0",
        "key-1",
        "ключ-2",
        "キー-3",
        "key 4",
        "k5",
        "k6",
        "k7",
        "k8",
        "k9",
    ];
    let published: Vec<Message> = (0..features.messages)
        .map(|i| {
            let key = (i % 7 != 3).then(|| keys[i % keys.len()].to_owned());
            let mut payload = format!("payload {i} ").into_bytes();
            payload.extend((0..=255u8).cycle().skip(i % 256).take(i % 64));
            let mut msg = numbered("publish_subscribe", i, key);
            msg.set_payload(payload);
            let msg = msg.with_metadata("unicode", "héllo wörld 世界 🚀");
            if i.is_multiple_of(5) {
                msg.with_metadata("empty", "")
            } else {
                msg
            }
        })
        .collect();
    let sizes = [1usize, 7, 100];
    let mut rest = published.as_slice();
    let mut call = 0;
    while !rest.is_empty() {
        let n = sizes[call % sizes.len()].min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        client.publish(&topic, chunk.to_vec()).await?;
        rest = tail;
        call += 1;
    }

    let mut received = Vec::with_capacity(published.len());
    while received.len() < published.len() {
        let d = probe
            .expect(
                features.receive_timeout,
                &format!(
                    "message {} of {} on {topic}",
                    received.len() + 1,
                    published.len()
                ),
            )
            .await?;
        if d.attempt() != 1 {
            return Err(ConformanceError::violation(format!(
                "message {} arrived with attempt {} on its first delivery",
                label(d.message()),
                d.attempt()
            )));
        }
        received.push(d.message().clone());
        d.ack();
    }
    check_exactly_once(&published, &received)?;
    check_key_order(&published, &received)?;
    probe
        .expect_nothing(features.quiet(), "every message was already acknowledged")
        .await?;
    probe.close().await?;
    client.close().await
}

/// An empty payload (with and without key and metadata) and a
/// [`Features::large_payload`]-byte payload round-trip unchanged.
pub async fn empty_and_large_payloads(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "payloads").await?;
    let group = unique_name("group");
    let mut probe = client.probe(&topic, &group, 8).await?;

    let mut mix = Mix::new(0x5eed);
    let large: Vec<u8> = (0..features.large_payload)
        .map(|_| (mix.next() >> 56) as u8)
        .collect();
    let published = vec![
        Message::new(Bytes::new()),
        Message::new(Bytes::new())
            .with_key("empty")
            .with_metadata("note", "empty payload"),
        Message::new(large)
            .with_key("large")
            .with_metadata("note", "large payload"),
        Message::new("after the large one").with_key("large"),
    ];
    for msg in &published {
        client.publish(&topic, vec![msg.clone()]).await?;
    }
    let mut received = Vec::new();
    for i in 0..published.len() {
        let d = probe
            .expect(
                features.receive_timeout,
                &format!("payload message {} of {}", i + 1, published.len()),
            )
            .await?;
        received.push(d.message().clone());
        d.ack();
    }
    check_exactly_once(&published, &received)?;
    check_key_order(&published, &received)?;
    probe.close().await?;
    client.close().await
}

/// Fifty topics used at once, with one group name shared by all of them: every
/// topic's subscriber gets exactly its own topic's messages.
pub async fn many_topics(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    const TOPICS: usize = 50;
    const PER_TOPIC: usize = 10;
    let client = Arc::new(connect(backend).await?);
    let group = unique_name("group");
    let mut topics = Vec::with_capacity(TOPICS);
    let mut probes = Vec::with_capacity(TOPICS);
    for i in 0..TOPICS {
        let topic = new_topic(backend, features, &format!("many{i}")).await?;
        probes.push(client.probe(&topic, &group, 16).await?);
        topics.push(topic);
    }
    let batches: Vec<Vec<Message>> = topics
        .iter()
        .map(|topic| {
            (0..PER_TOPIC)
                .map(|i| numbered(topic, i, Some(format!("k{}", i % 3))))
                .collect()
        })
        .collect();
    let publishing = topics.iter().zip(&batches).map(|(topic, msgs)| {
        let client = Arc::clone(&client);
        async move { client.publish(topic, msgs.clone()).await }
    });
    futures::future::try_join_all(publishing).await?;

    let receiving =
        topics
            .iter()
            .zip(probes)
            .zip(&batches)
            .map(|((topic, mut probe), published)| async move {
                let mut received = Vec::with_capacity(PER_TOPIC);
                while received.len() < PER_TOPIC {
                    let d = probe
                        .expect(
                            features.receive_timeout,
                            &format!("message {} of {PER_TOPIC} on {topic}", received.len() + 1),
                        )
                        .await?;
                    if d.message().metadata().get(ORIGIN) != Some(topic.as_str()) {
                        return Err(ConformanceError::violation(format!(
                            "a subscriber of {topic} received message {} published to {:?}",
                            label(d.message()),
                            d.message().metadata().get(ORIGIN)
                        )));
                    }
                    received.push(d.message().clone());
                    d.ack();
                }
                check_exactly_once(published, &received)?;
                check_key_order(published, &received)?;
                probe
                    .expect_nothing(features.quiet(), "the topic's messages were all handled")
                    .await?;
                probe.close().await
            });
    futures::future::try_join_all(receiving).await?;
    client.close().await
}

/// Eight publishers (each its own [`Backend::connect`]) publish at the same time, in
/// calls of one to five messages under their own key: every message arrives once
/// and each publisher's messages arrive in the order it published them.
pub async fn concurrent_publishers(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    const PUBLISHERS: usize = 8;
    let per_publisher = (features.messages / PUBLISHERS).max(10);
    let consumer = connect(backend).await?;
    let topic = new_topic(backend, features, "concurrent").await?;
    let group = unique_name("group");
    let (tx, mut events) = mpsc::unbounded_channel();
    let member = Member::spawn(0, consumer.subscribe(&topic, &group).await?, 4, 32, tx);

    let start = Arc::new(Barrier::new(PUBLISHERS));
    let mut tasks = Vec::with_capacity(PUBLISHERS);
    let mut published = Vec::with_capacity(PUBLISHERS * per_publisher);
    for p in 0..PUBLISHERS {
        let client: Client = connect(backend).await?;
        let msgs: Vec<Message> = (0..per_publisher)
            .map(|i| {
                numbered(
                    "concurrent_publishers",
                    p * per_publisher + i,
                    Some(format!("publisher-{p}")),
                )
            })
            .collect();
        published.extend(msgs.iter().cloned());
        let start = Arc::clone(&start);
        let topic = topic.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut mix = Mix::new(p as u64);
            let mut rest = msgs.as_slice();
            while !rest.is_empty() {
                let n = (1 + mix.below(5)).min(rest.len());
                let (chunk, tail) = rest.split_at(n);
                client.publish(&topic, chunk.to_vec()).await?;
                rest = tail;
            }
            client.close().await
        }));
    }
    for task in tasks {
        task.await.map_err(|err| {
            ConformanceError::Panicked(format!("a publishing task failed: {err}"))
        })??;
    }
    let handled = collect(
        &mut events,
        published.len(),
        features.receive_timeout,
        "messages of concurrent publishers",
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
    consumer.close().await
}
