//! A property of `append_messages`: against a model (a map from the dedup key to the
//! stored message and a set of taken seqs), random batches of retries, clashes and new
//! messages give exactly the model's outcomes, and the stored rows are the model's.

use std::collections::{BTreeMap, HashMap};

use domain::{AppendOutcome, ChatMessage, GroupId, Store, Timestamp};
use proptest::prelude::*;

/// (sender 0..3, client id 0..4, seq 1..8): small ranges so clashes are common.
fn op() -> impl Strategy<Value = (u8, u8, u64)> {
    (0u8..3, 0u8..4, 1u64..8)
}

fn message(group: &GroupId, (sender, client, seq): (u8, u8, u64)) -> ChatMessage {
    ChatMessage {
        group_id: group.clone(),
        seq,
        sender_id: format!("user-{sender}"),
        client_msg_id: format!("c-{client}"),
        body: format!(r#"{{"n":{seq}}}"#),
        sent_at: Timestamp::from_unix_millis(i64::try_from(seq).unwrap_or(0)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn outcomes_match_the_model(batches in prop::collection::vec(prop::collection::vec(op(), 1..6), 1..5)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
        prop_assert!(rt.is_ok());
        let Ok(rt) = rt else { return Ok(()) };
        let result: anyhow::Result<()> = rt.block_on(async {
            let store = Store::connect("sqlite::memory:").await?;
            let group = GroupId::new();
            let mut by_key: HashMap<(String, String), ChatMessage> = HashMap::new();
            let mut by_seq: BTreeMap<u64, ChatMessage> = BTreeMap::new();
            for batch in &batches {
                let msgs: Vec<_> = batch.iter().map(|o| message(&group, *o)).collect();
                let got = store.append_messages(&msgs).await?;
                let mut expected = Vec::new();
                for m in &msgs {
                    let key = (m.sender_id.clone(), m.client_msg_id.clone());
                    let outcome = if let Some(original) = by_key.get(&key) {
                        AppendOutcome::Duplicate(original.clone())
                    } else if let std::collections::btree_map::Entry::Vacant(slot) =
                        by_seq.entry(m.seq)
                    {
                        slot.insert(m.clone());
                        by_key.insert(key, m.clone());
                        AppendOutcome::Stored(m.clone())
                    } else {
                        AppendOutcome::SeqTaken
                    };
                    expected.push(outcome);
                }
                anyhow::ensure!(got == expected, "batch {batch:?}: got {got:?}, expected {expected:?}");
            }
            let stored = store.messages_after(&group, 0, 100).await?;
            let model: Vec<_> = by_seq.into_values().collect();
            anyhow::ensure!(stored == model, "stored {stored:?}, model {model:?}");
            store.close().await;
            Ok(())
        });
        prop_assert!(result.is_ok(), "{:?}", result.err());
    }
}
