//! Helpers shared by the conformance tests: unique names, numbered messages, a
//! single-subscription probe, concurrent group members and the checks.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::{ConformanceError, Context};
use super::{Backend, Features};
use crate::delivery::{Batch, Delivery};
use crate::message::Message;
use crate::publisher::Publisher;
use crate::subscriber::{Subscriber, Subscription};

/// Metadata key holding a message's sequence number within its test.
pub(crate) const SEQ: &str = "conformance.seq";
/// Metadata key holding the test (and topic) a message belongs to.
pub(crate) const ORIGIN: &str = "conformance.origin";

/// A topic or group name no other test (or run) uses.
pub(crate) fn unique_name(kind: &str) -> String {
    format!("conformance.{kind}.{}", uuid::Uuid::now_v7().simple())
}

/// A fresh topic, created on the backend if it needs that.
pub(crate) async fn new_topic(
    backend: &dyn Backend,
    features: &Features,
    kind: &str,
) -> Result<String, ConformanceError> {
    let topic = unique_name(kind);
    backend
        .create_topic(&topic, features.partitions)
        .await
        .during(&format!("creating topic {topic}"))?;
    Ok(topic)
}

/// A publisher and a subscriber from one [`Backend::connect`].
pub(crate) struct Client {
    pub(crate) publisher: Arc<dyn Publisher>,
    pub(crate) subscriber: Arc<dyn Subscriber>,
}

pub(crate) async fn connect(backend: &dyn Backend) -> Result<Client, ConformanceError> {
    let (publisher, subscriber) = backend.connect().await.during("connecting")?;
    Ok(Client {
        publisher,
        subscriber,
    })
}

impl Client {
    pub(crate) async fn publish(
        &self,
        topic: &str,
        messages: Vec<Message>,
    ) -> Result<(), ConformanceError> {
        let n = messages.len();
        self.publisher
            .publish(topic, messages)
            .await
            .during(&format!("publishing {n} messages to {topic}"))
    }

    pub(crate) async fn subscribe(
        &self,
        topic: &str,
        group: &str,
    ) -> Result<Box<dyn Subscription>, ConformanceError> {
        self.subscriber
            .subscribe(topic, group)
            .await
            .during(&format!("subscribing group {group} to {topic}"))
    }

    pub(crate) async fn probe(
        &self,
        topic: &str,
        group: &str,
        max: usize,
    ) -> Result<Probe, ConformanceError> {
        Ok(Probe::new(self.subscribe(topic, group).await?, max))
    }

    pub(crate) async fn close(&self) -> Result<(), ConformanceError> {
        self.publisher.close().await.during("closing the publisher")
    }
}

/// A message of test `origin` numbered `seq`, with an optional key.
pub(crate) fn numbered(origin: &str, seq: usize, key: Option<String>) -> Message {
    let msg = Message::new(format!("{origin}#{seq}"))
        .with_metadata(SEQ, seq.to_string())
        .with_metadata(ORIGIN, origin);
    match key {
        Some(key) => msg.with_key(key),
        None => msg,
    }
}

/// A small deterministic pseudo-random generator (SplitMix64), so interleavings are
/// varied but reproducible.
#[derive(Clone, Debug)]
pub(crate) struct Mix(u64);

impl Mix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        // The remainder is < n, which is a usize.
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// How a message is named in failure reports: its origin and sequence number.
pub(crate) fn label(msg: &Message) -> String {
    match msg.metadata().get(SEQ) {
        Some(seq) => format!("#{seq} ({})", msg.id()),
        None => format!("({})", msg.id()),
    }
}

/// Checks what a subscription handed out against the [`Subscription`] contract: at
/// most `max` deliveries, all of the batch's lane, and every key always on one lane.
pub(crate) fn check_batch(
    batch: &Batch,
    max: usize,
    key_lanes: &mut HashMap<String, u32>,
) -> Result<(), ConformanceError> {
    if batch.deliveries.len() > max {
        return Err(ConformanceError::violation(format!(
            "next_batch({max}) returned {} deliveries",
            batch.deliveries.len()
        )));
    }
    for d in &batch.deliveries {
        if let Some(token) = d.token() {
            if token.lane != batch.lane {
                return Err(ConformanceError::violation(format!(
                    "a batch of lane {} holds message {} of lane {}",
                    batch.lane,
                    label(d.message()),
                    token.lane
                )));
            }
        }
        if let Some(key) = d.message().key() {
            match key_lanes.entry(key.to_owned()) {
                Entry::Occupied(e) if *e.get() != batch.lane => {
                    return Err(ConformanceError::violation(format!(
                        "key {key:?} was delivered on lane {} and on lane {}",
                        e.get(),
                        batch.lane
                    )));
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(e) => {
                    e.insert(batch.lane);
                }
            }
        }
    }
    Ok(())
}

/// One subscription read one delivery at a time, the way a correct sequential
/// consumer does: deliveries that went stale (their lane was rewound) are dropped
/// unhandled.
pub(crate) struct Probe {
    sub: Box<dyn Subscription>,
    pending: VecDeque<Delivery>,
    max: usize,
    key_lanes: HashMap<String, u32>,
}

impl Probe {
    pub(crate) fn new(sub: Box<dyn Subscription>, max: usize) -> Self {
        Self {
            sub,
            pending: VecDeque::new(),
            max: max.max(1),
            key_lanes: HashMap::new(),
        }
    }

    /// The next delivery to handle, or `None` if none arrives before `deadline`.
    pub(crate) async fn next_until(
        &mut self,
        deadline: Instant,
    ) -> Result<Option<Delivery>, ConformanceError> {
        loop {
            while let Some(delivery) = self.pending.pop_front() {
                if !delivery.is_stale() {
                    return Ok(Some(delivery));
                }
            }
            let fetched = tokio::time::timeout_at(deadline, self.sub.next_batch(self.max)).await;
            let batch = match fetched {
                Err(_) => return Ok(None),
                Ok(result) => result.during("fetching a batch")?,
            };
            let Some(batch) = batch else {
                return Err(ConformanceError::violation(
                    "next_batch returned None (closed) on an open subscription",
                ));
            };
            check_batch(&batch, self.max, &mut self.key_lanes)?;
            self.pending.extend(batch.deliveries);
        }
    }

    /// The next delivery to handle, or `None` if none arrives within `within`.
    pub(crate) async fn next_within(
        &mut self,
        within: Duration,
    ) -> Result<Option<Delivery>, ConformanceError> {
        self.next_until(Instant::now() + within).await
    }

    /// The next delivery to handle; failing after `within`.
    pub(crate) async fn expect(
        &mut self,
        within: Duration,
        what: &str,
    ) -> Result<Delivery, ConformanceError> {
        self.next_within(within)
            .await?
            .ok_or_else(|| ConformanceError::Timeout {
                waiting_for: what.to_owned(),
                after: within,
            })
    }

    /// Fails if anything arrives within `quiet`.
    pub(crate) async fn expect_nothing(
        &mut self,
        quiet: Duration,
        why: &str,
    ) -> Result<(), ConformanceError> {
        match self.next_within(quiet).await? {
            None => Ok(()),
            Some(d) => Err(ConformanceError::violation(format!(
                "unexpected delivery of message {} (attempt {}): {why}",
                label(d.message()),
                d.attempt()
            ))),
        }
    }

    /// Drops (rejects) every delivery fetched but not handed out yet, as a consumer
    /// does with the rest of a batch after a rejection.
    pub(crate) fn drop_pending(&mut self) {
        self.pending.clear();
    }

    /// Closes the subscription, then drops whatever it still held unhandled.
    pub(crate) async fn close(mut self) -> Result<(), ConformanceError> {
        let closed = self.sub.close().await.during("closing a subscription");
        self.pending.clear();
        closed
    }
}

/// One message handled (and then acknowledged) by a [`Member`].
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) member: usize,
    pub(crate) message: Message,
}

/// What members report to the test.
pub(crate) enum Event {
    Handled(Handled),
    Problem(ConformanceError),
}

/// A group member consuming in the background like the router does: one task fetches
/// batches and hands each to the worker of its lane, so lanes are handled concurrently
/// and each lane in order. Workers report a message before acknowledging it.
pub(crate) struct Member {
    stop: CancellationToken,
    task: JoinHandle<Result<(), ConformanceError>>,
}

impl Member {
    pub(crate) fn spawn(
        id: usize,
        sub: Box<dyn Subscription>,
        workers: usize,
        max: usize,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_member(
            id,
            sub,
            workers.max(1),
            max.max(1),
            events,
            stop.clone(),
        ));
        Self { stop, task }
    }

    /// Stops fetching, lets the workers drop what they hold, and closes the subscription.
    pub(crate) async fn stop(self) -> Result<(), ConformanceError> {
        self.stop.cancel();
        match self.task.await {
            Ok(result) => result,
            Err(err) => Err(ConformanceError::Panicked(format!(
                "a group member task failed: {err}"
            ))),
        }
    }
}

async fn run_member(
    id: usize,
    mut sub: Box<dyn Subscription>,
    workers: usize,
    max: usize,
    events: mpsc::UnboundedSender<Event>,
    stop: CancellationToken,
) -> Result<(), ConformanceError> {
    let mut lanes = Vec::with_capacity(workers);
    let mut joins = Vec::with_capacity(workers);
    for w in 0..workers {
        let (tx, rx) = mpsc::channel::<Batch>(4);
        let seed = (id as u64) << 32 | w as u64;
        joins.push(tokio::spawn(work(
            id,
            rx,
            events.clone(),
            stop.clone(),
            seed,
        )));
        lanes.push(tx);
    }
    let mut key_lanes = HashMap::new();
    let problem = loop {
        let fetched = tokio::select! {
            biased;
            () = stop.cancelled() => break None,
            fetched = sub.next_batch(max) => fetched,
        };
        let batch = match fetched {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                break Some(ConformanceError::violation(format!(
                    "member {id}: next_batch returned None (closed) on an open subscription"
                )))
            }
            Err(err) => {
                break Some(ConformanceError::Backend {
                    during: format!("member {id} fetching a batch"),
                    source: err,
                })
            }
        };
        if let Err(err) = check_batch(&batch, max, &mut key_lanes) {
            break Some(err);
        }
        let lane = &lanes[batch.lane as usize % lanes.len()];
        tokio::select! {
            biased;
            () = stop.cancelled() => break None,
            sent = lane.send(batch) => if sent.is_err() { break None },
        }
    };
    if let Some(problem) = problem {
        // The test may already be gone; then nobody needs the report.
        let _ = events.send(Event::Problem(problem));
    }
    drop(lanes);
    for join in joins {
        if join.await.is_err() {
            let _ = events.send(Event::Problem(ConformanceError::Panicked(format!(
                "a worker of member {id} panicked"
            ))));
        }
    }
    sub.close().await.during("closing a subscription")
}

async fn work(
    member: usize,
    mut batches: mpsc::Receiver<Batch>,
    events: mpsc::UnboundedSender<Event>,
    stop: CancellationToken,
    seed: u64,
) {
    let mut mix = Mix::new(seed);
    while let Some(batch) = batches.recv().await {
        for delivery in batch.deliveries {
            if stop.is_cancelled() || delivery.is_stale() {
                break;
            }
            // Give other lanes (and members) a chance to interleave.
            for _ in 0..mix.below(3) {
                tokio::task::yield_now().await;
            }
            let handled = Handled {
                member,
                message: delivery.message().clone(),
            };
            if events.send(Event::Handled(handled)).is_err() {
                return;
            }
            delivery.ack();
        }
    }
}

/// Collects `count` handled messages, failing when no progress is made for `within`
/// or when a member reports a problem.
pub(crate) async fn collect(
    events: &mut mpsc::UnboundedReceiver<Event>,
    count: usize,
    within: Duration,
    what: &str,
) -> Result<Vec<Handled>, ConformanceError> {
    let mut handled = Vec::with_capacity(count);
    while handled.len() < count {
        match tokio::time::timeout(within, events.recv()).await {
            Err(_) => {
                return Err(ConformanceError::Timeout {
                    waiting_for: format!(
                        "{what}: {} of {count} messages handled, then nothing",
                        handled.len()
                    ),
                    after: within,
                })
            }
            Ok(None) => {
                return Err(ConformanceError::violation(format!(
                    "{what}: every member stopped after {} of {count} messages",
                    handled.len()
                )))
            }
            Ok(Some(Event::Handled(h))) => handled.push(h),
            Ok(Some(Event::Problem(err))) => return Err(err),
        }
    }
    Ok(handled)
}

/// Collects handlings until every message of `published` was handled at least once
/// (duplicates included in the result, in handling order).
pub(crate) async fn collect_all_ids(
    events: &mut mpsc::UnboundedReceiver<Event>,
    published: &[Message],
    within: Duration,
    what: &str,
) -> Result<Vec<Handled>, ConformanceError> {
    let mut waiting: HashSet<&str> = published.iter().map(Message::id).collect();
    let mut handled = Vec::with_capacity(published.len());
    while !waiting.is_empty() {
        match tokio::time::timeout(within, events.recv()).await {
            Err(_) => {
                return Err(ConformanceError::Timeout {
                    waiting_for: format!(
                        "{what}: {} of {} messages never handled, e.g. {:?}",
                        waiting.len(),
                        published.len(),
                        waiting.iter().take(3).collect::<Vec<_>>()
                    ),
                    after: within,
                })
            }
            Ok(None) => {
                return Err(ConformanceError::violation(format!(
                    "{what}: every member stopped with {} messages never handled",
                    waiting.len()
                )))
            }
            Ok(Some(Event::Handled(h))) => {
                waiting.remove(h.message.id());
                handled.push(h);
            }
            Ok(Some(Event::Problem(err))) => return Err(err),
        }
    }
    Ok(handled)
}

/// The first handling of each message id, in handling order.
pub(crate) fn first_handlings<'a>(
    handled: impl IntoIterator<Item = &'a Message>,
) -> Vec<&'a Message> {
    let mut seen = HashSet::new();
    handled
        .into_iter()
        .filter(|m| seen.insert(m.id()))
        .collect()
}

/// Fails if any message is handled within `quiet`.
pub(crate) async fn expect_no_more(
    events: &mut mpsc::UnboundedReceiver<Event>,
    quiet: Duration,
    why: &str,
) -> Result<(), ConformanceError> {
    match tokio::time::timeout(quiet, events.recv()).await {
        Err(_) | Ok(None) => Ok(()),
        Ok(Some(Event::Handled(h))) => Err(ConformanceError::violation(format!(
            "message {} handled again by member {}: {why}",
            label(&h.message),
            h.member
        ))),
        Ok(Some(Event::Problem(err))) => Err(err),
    }
}

fn examples<'a>(ids: impl IntoIterator<Item = &'a Message>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut total = 0usize;
    for m in ids {
        if out.len() < 5 {
            out.push(label(m));
        }
        total += 1;
    }
    if total > out.len() {
        out.push(format!("... {} in all", total));
    }
    out.join(", ")
}

/// What differs between a published message and what was delivered.
fn difference(sent: &Message, got: &Message) -> String {
    let mut diffs = Vec::new();
    if sent.key() != got.key() {
        diffs.push(format!("key {:?} became {:?}", sent.key(), got.key()));
    }
    if sent.metadata() != got.metadata() {
        diffs.push(format!(
            "metadata {:?} became {:?}",
            sent.metadata(),
            got.metadata()
        ));
    }
    if sent.payload() != got.payload() {
        diffs.push(format!(
            "payload of {} bytes became {} bytes{}",
            sent.payload().len(),
            got.payload().len(),
            if sent.payload().len() == got.payload().len() {
                " with different content"
            } else {
                ""
            }
        ));
    }
    diffs.join("; ")
}

/// Every published message was handled exactly once, unchanged, and nothing else was.
pub(crate) fn check_exactly_once<'a>(
    published: &[Message],
    handled: impl IntoIterator<Item = &'a Message>,
) -> Result<(), ConformanceError> {
    let by_id: HashMap<&str, &Message> = published.iter().map(|m| (m.id(), m)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut duplicates = Vec::new();
    let mut unknown = Vec::new();
    for got in handled {
        match by_id.get(got.id()) {
            None => unknown.push(got),
            Some(sent) => {
                if *sent != got {
                    return Err(ConformanceError::violation(format!(
                        "message {} changed in transit: {}",
                        label(sent),
                        difference(sent, got)
                    )));
                }
                if !seen.insert(sent.id()) {
                    duplicates.push(got);
                }
            }
        }
    }
    let missing: Vec<&Message> = published
        .iter()
        .filter(|m| !seen.contains(m.id()))
        .collect();
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "{} of {} published messages never handled: {}",
            missing.len(),
            published.len(),
            examples(missing.iter().copied())
        ));
    }
    if !duplicates.is_empty() {
        problems.push(format!(
            "{} messages handled more than once: {}",
            duplicates.len(),
            examples(duplicates.iter().copied())
        ));
    }
    if !unknown.is_empty() {
        problems.push(format!(
            "{} messages handled that were never published here: {}",
            unknown.len(),
            examples(unknown.iter().copied())
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConformanceError::violation(problems.join("; ")))
    }
}

/// For every key, the handled messages are exactly that key's published messages, in
/// publish order.
pub(crate) fn check_key_order<'a>(
    published: &[Message],
    handled: impl IntoIterator<Item = &'a Message>,
) -> Result<(), ConformanceError> {
    let mut expected: HashMap<&str, Vec<&Message>> = HashMap::new();
    for m in published {
        if let Some(key) = m.key() {
            expected.entry(key).or_default().push(m);
        }
    }
    let mut got: HashMap<&str, Vec<&Message>> = HashMap::new();
    for m in handled {
        if let Some(key) = m.key() {
            got.entry(key).or_default().push(m);
        }
    }
    let empty = Vec::new();
    for (key, want) in &expected {
        let have = got.get(key).unwrap_or(&empty);
        let first_difference = want
            .iter()
            .zip(have.iter())
            .position(|(w, h)| w.id() != h.id());
        if let Some(i) = first_difference {
            return Err(ConformanceError::violation(format!(
                "key {key:?} out of order: handled message {} where {} (publish position {i}) was due",
                label(have[i]),
                label(want[i]),
            )));
        }
        if want.len() != have.len() {
            return Err(ConformanceError::violation(format!(
                "key {key:?}: {} messages published, {} handled",
                want.len(),
                have.len()
            )));
        }
    }
    Ok(())
}
