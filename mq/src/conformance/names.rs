//! Topic and group names.

use super::error::{ConformanceError, Context};
use super::support::{connect, label, new_topic, numbered, unique_name};
use super::{Backend, Features};
use crate::error::Error;

/// Fails unless `result` is [`Error::InvalidName`] naming `name`.
fn expect_invalid<T>(
    result: Result<T, Error>,
    name: &str,
    call: &str,
) -> Result<(), ConformanceError> {
    match result {
        Err(Error::InvalidName { name: rejected, .. }) if rejected == name => Ok(()),
        Err(Error::InvalidName { name: rejected, .. }) => Err(ConformanceError::violation(
            format!("{call}: InvalidName names {rejected:?}, not the invalid name {name:?}"),
        )),
        Err(other) => Err(ConformanceError::violation(format!(
            "{call} with the invalid name {name:?} failed with {other} instead of InvalidName"
        ))),
        Ok(_) => Err(ConformanceError::violation(format!(
            "{call} accepted the invalid name {name:?}"
        ))),
    }
}

/// Invalid topic and group names (empty, too long, spaces, control characters,
/// slashes, non-ASCII, a valid name with a space around it) make `publish` and
/// `subscribe` fail with [`Error::InvalidName`] naming the bad name, and change
/// nothing: a subscriber of the valid topic they resemble receives none of the
/// rejected messages. Names at the edge of valid (249 characters of every allowed
/// kind) work.
pub async fn invalid_names(
    backend: &dyn Backend,
    features: &Features,
) -> Result<(), ConformanceError> {
    let client = connect(backend).await?;
    let topic = new_topic(backend, features, "names").await?;
    let group = unique_name("group");
    let mut probe = client.probe(&topic, &group, 16).await?;

    let invalid = [
        format!("{topic} "),
        format!(" {topic}"),
        format!("{topic}\n"),
        format!("{topic}/"),
        format!("{topic}*"),
        String::new(),
        " ".to_owned(),
        "has space".to_owned(),
        "tab\tname".to_owned(),
        "new\nline".to_owned(),
        "slash/name".to_owned(),
        "colon:name".to_owned(),
        "star*".to_owned(),
        "nul\0byte".to_owned(),
        "ümlaut".to_owned(),
        "emoji-🚀".to_owned(),
        "x".repeat(250),
    ];
    for name in &invalid {
        let msg = numbered("invalid_names", 0, Some("k".to_owned()));
        expect_invalid(
            client.publisher.publish(name, vec![msg]).await,
            name,
            "publish",
        )?;
        expect_invalid(
            client.subscriber.subscribe(name, &group).await,
            name,
            "subscribe (topic)",
        )?;
        expect_invalid(
            client.subscriber.subscribe(&topic, name).await,
            name,
            "subscribe (group)",
        )?;
    }

    let sentinel = numbered("invalid_names", 1, Some("k".to_owned()));
    client.publish(&topic, vec![sentinel.clone()]).await?;
    let d = probe
        .expect(
            features.receive_timeout,
            "a valid message after the rejected calls",
        )
        .await?;
    if d.message().id() != sentinel.id() {
        return Err(ConformanceError::violation(format!(
            "a publish to an invalid topic name reached {topic}: received {} before the valid message",
            label(d.message())
        )));
    }
    d.ack();
    probe
        .expect_nothing(features.quiet(), "only the valid message was published")
        .await?;
    probe.close().await?;

    // The longest valid names, with every kind of allowed character.
    let stem = format!("{}.Edge_Case-09", unique_name("long"));
    let long_topic = format!("{stem}{}", "t".repeat(249usize.saturating_sub(stem.len())));
    let long_group = format!("{stem}{}", "g".repeat(249usize.saturating_sub(stem.len())));
    backend
        .create_topic(&long_topic, features.partitions)
        .await
        .during("creating a topic with a 249-character name")?;
    let mut probe = client.probe(&long_topic, &long_group, 16).await?;
    let msg = numbered("invalid_names", 2, None);
    client.publish(&long_topic, vec![msg.clone()]).await?;
    let d = probe
        .expect(
            features.receive_timeout,
            "a message on a 249-character topic",
        )
        .await?;
    if d.message() != &msg {
        return Err(ConformanceError::violation(format!(
            "expected message {} on the 249-character topic, got {}",
            label(&msg),
            label(d.message())
        )));
    }
    d.ack();
    probe.close().await?;
    client.close().await
}
