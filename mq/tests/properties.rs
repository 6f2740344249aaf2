//! Property tests: per-key order through the router under random interleavings and
//! failures, codec round trips, message cloning, and the partitioner.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq::backend::memory::{MemoryBroker, MemoryConfig};
use mq::backend::partition_for_key;
use mq::{handler_fn, HandlerContext, HandlerError, Message, Publisher, Router, RouterConfig};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------
// (a) Per-key order through a router with concurrency, under random failures.
// ---------------------------------------------------------------------------------

/// Attempts after which a message always succeeds (so every run terminates).
const FAILING_ATTEMPTS: usize = 3;

#[derive(Clone, Debug)]
struct Scenario {
    /// The key (0..4) of each message, in publish order.
    keys: Vec<u8>,
    /// Whether handling message i fails on attempt a (1-based), for a <= FAILING_ATTEMPTS.
    fails: Vec<[bool; FAILING_ATTEMPTS]>,
    /// How many times the handler of message i yields before deciding (interleaving).
    yields: Vec<u8>,
    /// Publish call sizes.
    chunks: Vec<usize>,
    partitions: u32,
    concurrency: usize,
    batch_size: usize,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..=40).prop_flat_map(|n| {
        (
            prop::collection::vec(0u8..4, n),
            prop::collection::vec(prop::array::uniform3(prop::bool::weighted(0.25)), n),
            prop::collection::vec(0u8..3, n),
            prop::collection::vec(1usize..=8, n),
            1u32..=6,
            2usize..=4,
            1usize..=8,
        )
            .prop_map(
                |(keys, fails, yields, chunks, partitions, concurrency, batch_size)| Scenario {
                    keys,
                    fails,
                    yields,
                    chunks,
                    partitions,
                    concurrency,
                    batch_size,
                },
            )
    })
}

/// What the handler saw: successful handlings in order, and every attempt.
#[derive(Default)]
struct Log {
    handled: Vec<usize>,
    attempts: HashMap<usize, Vec<u32>>,
}

fn run_scenario(s: &Scenario) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(format!("runtime: {e}")))?;
    rt.block_on(async {
        let broker = MemoryBroker::new(MemoryConfig {
            partitions: s.partitions,
            redelivery_delay: Duration::from_millis(1),
            ..MemoryConfig::default()
        });
        let log: Arc<Mutex<Log>> = Arc::default();
        let total = s.keys.len();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut router = Router::new(RouterConfig {
            batch_size: s.batch_size,
            close_timeout: Duration::from_secs(5),
            ..RouterConfig::default()
        });
        {
            let log = Arc::clone(&log);
            let fails = Arc::new(s.fails.clone());
            let yields = Arc::new(s.yields.clone());
            router
                .handler(
                    "ordered",
                    "numbers",
                    broker.clone(),
                    "unused",
                    broker.clone(),
                    handler_fn(move |msg: Message, ctx: HandlerContext| {
                        let log = Arc::clone(&log);
                        let fails = Arc::clone(&fails);
                        let yields = Arc::clone(&yields);
                        let done_tx = done_tx.clone();
                        async move {
                            let i: usize = std::str::from_utf8(msg.payload())?.parse()?;
                            for _ in 0..yields.get(i).copied().unwrap_or(0) {
                                tokio::task::yield_now().await;
                            }
                            let attempt = ctx.delivery_attempt();
                            let fail = fails
                                .get(i)
                                .and_then(|f| f.get(attempt as usize - 1))
                                .copied()
                                .unwrap_or(false);
                            let mut log = log
                                .lock()
                                .map_err(|_| HandlerError::permanent("poisoned log"))?;
                            log.attempts.entry(i).or_default().push(attempt);
                            if fail {
                                return Err(HandlerError::transient(std::io::Error::other(
                                    "scheduled failure",
                                )));
                            }
                            log.handled.push(i);
                            if log.handled.len() >= total {
                                done_tx.send(()).ok();
                            }
                            Ok(Vec::new())
                        }
                    }),
                )
                .concurrency(s.concurrency);
        }
        let handle = router.handle();
        let running = tokio::spawn(router.run());
        handle.running().await;

        let messages: Vec<Message> = s
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| Message::new(i.to_string()).with_key(format!("key-{k}")))
            .collect();
        let mut rest = messages.as_slice();
        let mut chunk = s.chunks.iter().cycle();
        while !rest.is_empty() {
            let n = chunk.next().copied().unwrap_or(1).min(rest.len());
            let (now, later) = rest.split_at(n);
            broker
                .publish("numbers", now.to_vec())
                .await
                .map_err(|e| TestCaseError::fail(format!("publish: {e}")))?;
            rest = later;
        }

        let finished = tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await;
        handle.shutdown();
        let stopped = tokio::time::timeout(Duration::from_secs(10), running).await;
        let log = log
            .lock()
            .map_err(|_| TestCaseError::fail("poisoned log"))?;
        prop_assert!(
            finished.is_ok(),
            "only {} of {total} messages handled successfully",
            log.handled.len()
        );
        prop_assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "the router did not stop cleanly: {stopped:?}"
        );

        // Every key: successfully handled exactly its messages, in publish order.
        for key in 0..4u8 {
            let expected: Vec<usize> = (0..total).filter(|&i| s.keys[i] == key).collect();
            let got: Vec<usize> = log
                .handled
                .iter()
                .copied()
                .filter(|&i| s.keys[i] == key)
                .collect();
            prop_assert_eq!(got, expected, "key-{}", key);
        }
        // A failed attempt is followed by the next attempt, and the schedule was kept.
        for (i, attempts) in &log.attempts {
            let expected: Vec<u32> = (1..=attempts.len() as u32).collect();
            prop_assert_eq!(attempts, &expected, "attempts of message {}", i);
            let last = attempts.len();
            let scheduled_failures = s.fails[*i].iter().take_while(|f| **f).count();
            prop_assert_eq!(last, scheduled_failures + 1, "attempts of message {}", i);
        }
        prop_assert_eq!(
            broker
                .lag("numbers", "ordered")
                .map_err(|e| TestCaseError::fail(format!("lag: {e}")))?,
            0
        );
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn per_key_order_survives_failures_and_concurrency(s in scenario()) {
        run_scenario(&s)?;
    }
}

// ---------------------------------------------------------------------------------
// (b) Codec round trips and message cloning.
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Kind {
    Created,
    Renamed { from: String, to: String },
    Scored(i64),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Inner {
    flag: bool,
    values: Vec<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Event {
    id: u64,
    signed: i64,
    name: String,
    note: Option<String>,
    tags: Vec<String>,
    ratio: f64,
    inner: Option<Inner>,
    counts: BTreeMap<String, u32>,
    kind: Kind,
    raw: Vec<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    maybe: Option<u16>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Created),
        (any::<String>(), any::<String>()).prop_map(|(from, to)| Kind::Renamed { from, to }),
        any::<i64>().prop_map(Kind::Scored),
    ]
}

prop_compose! {
    fn event()(
        id in any::<u64>(),
        signed in any::<i64>(),
        name in any::<String>(),
        note in proptest::option::of("\\PC{0,20}"),
        tags in prop::collection::vec(any::<String>(), 0..5),
        // Exactly representable in a few decimal digits, so JSON round-trips it exactly.
        ratio in (any::<i16>(), 0i32..8).prop_map(|(m, e)| f64::from(m) / 2f64.powi(e)),
        inner in proptest::option::of((any::<bool>(), prop::collection::vec(any::<i32>(), 0..5))
            .prop_map(|(flag, values)| Inner { flag, values })),
        counts in prop::collection::btree_map(any::<String>(), any::<u32>(), 0..4),
        kind in kind(),
        raw in prop::collection::vec(any::<u8>(), 0..32),
        maybe in proptest::option::of(any::<u16>()),
    ) -> Event {
        Event { id, signed, name, note, tags, ratio, inner, counts, kind, raw, maybe }
    }
}

proptest! {
    #[test]
    fn json_round_trips(value in event()) {
        let msg = Message::json(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(msg.metadata().get(mq::CONTENT_TYPE), Some(mq::JSON));
        let back: Event = msg.decode_json().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &value);
        // Through a clone, and with key and metadata added afterwards.
        let keyed = msg.clone().with_key("k").with_metadata("x", "y");
        let again: Event = keyed.decode_json().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again, value);
    }

    #[test]
    fn json_round_trips_plain_values(
        s in any::<String>(),
        v in prop::collection::vec(proptest::option::of(any::<i64>()), 0..10),
    ) {
        let msg = Message::json(&(s.clone(), v.clone())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: (String, Vec<Option<i64>>) = msg.decode_json().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, (s, v));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let msg = Message::new(bytes);
        let _ = msg.decode_json::<Event>();
        let _ = msg.decode_json::<serde_json::Value>();
    }

    #[test]
    fn clones_keep_everything_and_stay_independent(
        id in "\\PC{1,40}",
        key in proptest::option::of(any::<String>()),
        metadata in prop::collection::btree_map(any::<String>(), any::<String>(), 0..8),
        payload in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut original = Message::with_id(id.as_str(), payload.clone());
        if let Some(k) = &key {
            original = original.with_key(k.as_str());
        }
        for (k, v) in &metadata {
            original = original.with_metadata(k.as_str(), v.as_str());
        }
        let clone = original.clone();
        prop_assert_eq!(&clone, &original);
        prop_assert_eq!(clone.id(), id.as_str());
        prop_assert_eq!(clone.key(), key.as_deref());
        prop_assert_eq!(clone.payload().as_ref(), payload.as_slice());
        let entries: Vec<(&str, &str)> = clone.metadata().iter().collect();
        let expected: Vec<(&str, &str)> =
            metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        prop_assert_eq!(entries, expected);

        // Changing a clone never changes the original.
        let mut changed = original.clone();
        changed.metadata_mut().insert("changed", "yes");
        changed.set_payload("other");
        changed.set_key(Some("other-key"));
        for k in metadata.keys() {
            changed.metadata_mut().remove(k);
        }
        prop_assert_eq!(original.key(), key.as_deref());
        prop_assert_eq!(original.payload().as_ref(), payload.as_slice());
        prop_assert_eq!(original.metadata().len(), metadata.len());
        prop_assert_eq!(original.metadata().get("changed"), metadata.get("changed").map(String::as_str));

        // A copy with a new id keeps everything else.
        let copy = original.copy_with_new_id();
        prop_assert_ne!(copy.id(), original.id());
        prop_assert_eq!(copy.key(), original.key());
        prop_assert_eq!(copy.metadata(), original.metadata());
        prop_assert_eq!(copy.payload(), original.payload());
    }
}

// ---------------------------------------------------------------------------------
// (c) The partitioner.
// ---------------------------------------------------------------------------------

/// 64-bit FNV-1a, written out independently of the crate's implementation.
fn reference_partition(key: &str, partitions: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

proptest! {
    #[test]
    fn partition_is_in_range_stable_and_pinned(key in any::<String>(), partitions in 1u32..=4096) {
        let p = partition_for_key(&key, partitions);
        prop_assert!(p < partitions);
        prop_assert_eq!(p, partition_for_key(&key, partitions));
        prop_assert_eq!(p, reference_partition(&key, partitions));
        prop_assert_eq!(partition_for_key(&key, 1), 0);
        prop_assert_eq!(partition_for_key(&key, 0), 0);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The in-memory broker puts a keyed message on the lane the partitioner names.
    #[test]
    fn the_memory_broker_uses_the_partitioner(
        keys in prop::collection::vec(any::<String>(), 1..8),
        partitions in 1u32..=32,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(format!("runtime: {e}")))?;
        rt.block_on(async {
            let broker = MemoryBroker::new(MemoryConfig { partitions, ..MemoryConfig::default() });
            let fail = |e: mq::Error| TestCaseError::fail(e.to_string());
            let mut sub = mq::Subscriber::subscribe(&broker, "t", "g").await.map_err(fail)?;
            let msgs: Vec<Message> = keys.iter().map(|k| Message::new("x").with_key(k.as_str())).collect();
            broker.publish("t", msgs).await.map_err(fail)?;
            let mut seen = 0;
            while seen < keys.len() {
                let batch = tokio::time::timeout(Duration::from_secs(5), sub.next_batch(64))
                    .await
                    .map_err(|_| TestCaseError::fail("no batch"))?
                    .map_err(fail)?
                    .ok_or_else(|| TestCaseError::fail("closed"))?;
                for d in batch.deliveries {
                    let key = d.message().key().unwrap_or_default();
                    prop_assert_eq!(batch.lane, partition_for_key(key, partitions), "key {:?}", key);
                    seen += 1;
                    d.ack();
                }
            }
            Ok(())
        })?;
    }
}
