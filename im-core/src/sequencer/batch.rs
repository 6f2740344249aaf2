//! [`Sequencer::append_batch`]: many drafts, of one or many groups, sequenced together
//! and handed to the store as one run (one transaction on a database store).

use std::collections::HashMap;

use tokio::sync::OwnedMutexGuard;

use super::{Draft, GroupState, SequenceError, Sequencer, CONFLICT_RETRIES};
use crate::ids::{GroupId, Seq};
use crate::message::{now_millis, StoredMessage};
use crate::metrics as m;
use crate::store::{Appended, RunStop, StoreError};

impl Sequencer {
    /// Sequences and stores `drafts` in the order given: each group's drafts take the
    /// group's next seqs in that order, and the batch goes to the store as one run
    /// ([`MessageStore::append_run`](crate::store::MessageStore::append_run)), so a
    /// database store writes it in one transaction. A draft whose (group, sender,
    /// client_msg_id) is already stored, or came earlier in the batch, is
    /// [`Appended::Duplicate`] with the original and takes no seq: seqs stay contiguous.
    /// One result per draft, in order.
    ///
    /// Nothing is fanned out (the IM service publishes the stored messages to its push
    /// topic). On an error some drafts may be stored already; appending the same drafts
    /// again returns those as duplicates with their seqs.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use im_core::{protocol::MessageBody, sequencer::{Draft, Sequencer}, store::InMemoryStore};
    /// let seq = Sequencer::new(Arc::new(InMemoryStore::new()));
    /// let draft = |group: &str, cid: &str| Draft { group_id: group.into(), sender_id: "a".into(),
    ///     client_msg_id: cid.into(), body: MessageBody::text("hi") };
    /// let out = seq
    ///     .append_batch(vec![draft("g", "c1"), draft("h", "c1"), draft("g", "c2"), draft("g", "c1")])
    ///     .await
    ///     .unwrap();
    /// let seqs: Vec<u64> = out.iter().map(|a| a.message().seq).collect();
    /// assert_eq!(seqs, [1, 1, 2, 1]); // the last one repeats g's c1
    /// # });
    /// ```
    pub async fn append_batch(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, SequenceError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut owners = self.own_all(&drafts).await;
        let sent_at = now_millis();
        let mut messages: Vec<StoredMessage> = drafts
            .into_iter()
            .map(|d| StoredMessage {
                group_id: d.group_id,
                seq: 0,
                sender_id: d.sender_id,
                client_msg_id: d.client_msg_id,
                body: d.body,
                sent_at,
            })
            .collect();
        let mut results = Vec::with_capacity(messages.len());
        let mut conflicts = 0;
        let conflict_limit = CONFLICT_RETRIES * owners.len();
        let mut start = 0;
        while start < messages.len() {
            let rest = &mut messages[start..];
            if let Err(e) = self.assign(&mut owners, rest).await {
                forget_all(&mut owners);
                return Err(e.into());
            }
            let run = match self.store.append_run(rest.to_vec()).await {
                Ok(run) => run,
                Err(e) => {
                    forget_all(&mut owners); // unknown outcome: trust only the store
                    return Err(e.into());
                }
            };
            if run.stored.len() > rest.len() {
                forget_all(&mut owners);
                return Err(broken("the store stored more messages than it was given").into());
            }
            for stored in run.stored {
                if let Some(state) = owners.get_mut(&stored.group_id) {
                    state.last = Some(stored.seq);
                }
                metrics::counter!(m::MESSAGES_STORED).increment(1);
                results.push(Appended::Stored(stored));
                start += 1;
            }
            match run.stopped {
                None if start < messages.len() => {
                    forget_all(&mut owners);
                    return Err(broken("the store stopped a run without saying why").into());
                }
                None => {}
                Some(RunStop::Duplicate(original)) => {
                    results.push(Appended::Duplicate(original));
                    start += 1;
                }
                Some(RunStop::SeqTaken) => {
                    let group = messages[start].group_id.clone();
                    if let Some(state) = owners.get_mut(&group) {
                        state.last = None;
                    }
                    conflicts += 1;
                    if conflicts >= conflict_limit {
                        return Err(SequenceError::Contended(group));
                    }
                }
                Some(RunStop::Failed(e)) => {
                    forget_all(&mut owners);
                    return Err(e.into());
                }
            }
        }
        Ok(results)
    }

    /// Owns every group of `drafts`, locking in group order (so two batches never wait
    /// for each other in a cycle).
    async fn own_all(&self, drafts: &[Draft]) -> HashMap<GroupId, OwnedMutexGuard<GroupState>> {
        let mut groups: Vec<&GroupId> = drafts.iter().map(|d| &d.group_id).collect();
        groups.sort_unstable();
        groups.dedup();
        let mut owners = HashMap::with_capacity(groups.len());
        for group in groups {
            let guard = self.group(group).lock_owned().await;
            owners.insert(group.clone(), guard);
        }
        owners
    }

    /// Gives `messages` their groups' next seqs, in order, loading a group's last seq
    /// from the store where it is not known.
    async fn assign(
        &self,
        owners: &mut HashMap<GroupId, OwnedMutexGuard<GroupState>>,
        messages: &mut [StoredMessage],
    ) -> Result<(), StoreError> {
        let mut next: HashMap<GroupId, Seq> = HashMap::with_capacity(owners.len());
        for message in messages.iter_mut() {
            let seq = match next.get_mut(&message.group_id) {
                Some(seq) => seq,
                None => {
                    let last = match owners.get_mut(&message.group_id) {
                        Some(state) => match state.last {
                            Some(last) => last,
                            None => {
                                let last = self.store.latest_seq(&message.group_id).await?;
                                state.last = Some(last);
                                last
                            }
                        },
                        None => return Err(broken("a draft's group was not owned")),
                    };
                    next.entry(message.group_id.clone()).or_insert(last)
                }
            };
            *seq += 1;
            message.seq = *seq;
        }
        Ok(())
    }
}

fn forget_all(owners: &mut HashMap<GroupId, OwnedMutexGuard<GroupState>>) {
    for state in owners.values_mut() {
        state.last = None;
    }
}

fn broken(why: &'static str) -> StoreError {
    StoreError::Backend(why.into())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::super::flaky::Flaky;
    use super::*;
    use crate::protocol::MessageBody;
    use crate::store::{InMemoryStore, MessageStore};

    fn draft(group: &str, sender: &str, cid: &str) -> Draft {
        Draft {
            group_id: group.into(),
            sender_id: sender.into(),
            client_msg_id: cid.into(),
            body: MessageBody::text(&format!("{sender}:{cid}")),
        }
    }

    async fn stored_seqs(store: &dyn MessageStore, group: &str) -> Vec<Seq> {
        let all = store.messages_after(&group.into(), 0, 10_000).await;
        all.unwrap_or_default().iter().map(|m| m.seq).collect()
    }

    #[tokio::test]
    async fn a_conflict_mid_batch_moves_the_rest_on_without_a_gap() {
        let store = Flaky::new();
        let sequencer = Sequencer::new(store.clone());
        sequencer
            .append_batch(vec![draft("g", "a", "c1")])
            .await
            .unwrap();
        store.conflicts.store(1, Ordering::SeqCst);
        let out = sequencer
            .append_batch(vec![draft("g", "a", "c2"), draft("g", "a", "c3")])
            .await
            .unwrap();
        let seqs: Vec<Seq> = out.iter().map(|a| a.message().seq).collect();
        assert_eq!(seqs, vec![3, 4], "seq 2 went to the other writer");
        assert_eq!(stored_seqs(&*store, "g").await, vec![1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_write_of_unknown_outcome_fails_the_batch_and_the_retry_dedups_it() {
        let store = Flaky::new();
        let sequencer = Sequencer::new(store.clone());
        let batch = vec![
            draft("g", "a", "c1"),
            draft("g", "a", "c2"),
            draft("g", "a", "c3"),
        ];
        // c1 is written but reported as failed (a timeout after the commit).
        store.lost_writes.store(1, Ordering::SeqCst);
        assert!(sequencer.append_batch(batch.clone()).await.is_err());
        let out = sequencer.append_batch(batch).await.unwrap();
        assert!(matches!(&out[0], Appended::Duplicate(m) if m.seq == 1));
        assert!(matches!(&out[1], Appended::Stored(m) if m.seq == 2));
        assert!(matches!(&out[2], Appended::Stored(m) if m.seq == 3));
        assert_eq!(stored_seqs(&*store, "g").await, vec![1, 2, 3]);
    }

    #[tokio::test]
    async fn persistent_conflicts_end_in_contended() {
        let store = Flaky::new();
        let sequencer = Sequencer::new(store.clone());
        store.conflicts.store(CONFLICT_RETRIES, Ordering::SeqCst);
        let result = sequencer.append_batch(vec![draft("g", "a", "c1")]).await;
        assert!(matches!(result, Err(SequenceError::Contended(_))));
    }

    /// One step of a history: a batch of (group, sender, client id) drafts.
    fn batches() -> impl Strategy<Value = Vec<Vec<(u8, u8, u8)>>> {
        let one = (0u8..3, 0u8..3, 0u8..12);
        prop::collection::vec(prop::collection::vec(one, 1..20), 1..12)
    }

    proptest! {
        /// Whatever the batches (repeats inside a batch and across batches, several
        /// groups interleaved), each group's stored seqs are 1..n, each distinct
        /// (sender, client id) is stored once, every repeat answers the original seq,
        /// and the results match appending the drafts one at a time.
        #[test]
        fn batches_sequence_like_single_appends(history in batches()) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            runtime.block_on(async {
                let batched_store = Arc::new(InMemoryStore::new());
                let batched = Sequencer::new(batched_store.clone());
                let single = Sequencer::new(Arc::new(InMemoryStore::new()));
                let mut first_seq: HashMap<(u8, u8, u8), Seq> = HashMap::new();
                for batch in &history {
                    let drafts: Vec<Draft> = batch
                        .iter()
                        .map(|(g, s, c)| draft(&format!("g{g}"), &format!("u{s}"), &format!("c{c}")))
                        .collect();
                    let out = batched.append_batch(drafts.clone()).await.unwrap();
                    prop_assert_eq!(out.len(), drafts.len());
                    for ((key, draft), result) in batch.iter().zip(drafts).zip(&out) {
                        let expected = single.append(draft, |_| async {}).await.unwrap();
                        prop_assert_eq!(
                            (result.message().seq, matches!(result, Appended::Duplicate(_))),
                            (expected.message().seq, matches!(expected, Appended::Duplicate(_)))
                        );
                        let seq = *first_seq.entry(*key).or_insert(result.message().seq);
                        prop_assert_eq!(result.message().seq, seq);
                    }
                }
                for g in 0..3u8 {
                    let group = format!("g{g}");
                    let seqs = stored_seqs(&*batched_store, &group).await;
                    let distinct = first_seq.keys().filter(|(kg, _, _)| *kg == g).count() as Seq;
                    prop_assert_eq!(seqs, (1..=distinct).collect::<Vec<_>>());
                }
                Ok(())
            })?;
        }
    }
}
