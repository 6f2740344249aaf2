//! NotificationService on SQLite and MariaDB: idempotent per event, listing, unread
//! count, mark read (only one's own).

mod support;

use std::collections::HashSet;

use domain::{ErrorKind, NotificationService, UserId};
use serde_json::json;
use support::{Db, TestDb};

async fn idempotent_per_event(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let n = NotificationService::new(t.store.clone());
    let (alice, bob, carol) = (UserId::new(), UserId::new(), UserId::new());
    let payload = json!({"activity_id": "a", "text": "O'Brien; DROP TABLE x; 🎉"});

    let first = n
        .notify(
            "ev-1",
            &[alice.clone(), bob.clone(), alice.clone()],
            "activity_updated",
            payload.clone(),
        )
        .await?;
    assert_eq!(
        first.len(),
        2,
        "a recipient listed twice gets one notification"
    );
    assert_eq!(first[0].user_id, alice);
    assert_eq!(first[1].user_id, bob);
    assert_eq!(first[0].kind, "activity_updated");
    assert_eq!(first[0].payload, payload);
    assert_eq!(first[0].read_at, None);

    // Redelivered: the same rows, the same ids.
    let again = n
        .notify(
            "ev-1",
            &[alice.clone(), bob.clone()],
            "activity_updated",
            payload.clone(),
        )
        .await?;
    assert_eq!(again, first);
    // A redelivery that now also reaches carol: alice's old row, carol's new one.
    let wider = n
        .notify(
            "ev-1",
            &[carol.clone(), alice.clone()],
            "activity_updated",
            json!({}),
        )
        .await?;
    assert_eq!(wider.len(), 2);
    assert_eq!(wider[0].user_id, carol);
    assert_eq!(wider[1], first[0]);
    assert_eq!(n.unread_count(&alice).await?, 1);
    assert_eq!(n.unread_count(&carol).await?, 1);
    // Another event is another notification.
    n.notify("ev-2", std::slice::from_ref(&alice), "welcome", json!({}))
        .await?;
    assert_eq!(n.unread_count(&alice).await?, 2);
    assert!(n
        .notify("ev-3", &[], "welcome", json!({}))
        .await?
        .is_empty());

    for (event, kind) in [
        ("", "welcome"),
        (&"e".repeat(65)[..], "welcome"),
        ("ev", ""),
    ] {
        let err = n
            .notify(event, std::slice::from_ref(&alice), kind, json!({}))
            .await
            .err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::InvalidInput));
    }
    t.finish().await
}
on_both_databases!(idempotent_per_event_on, idempotent_per_event);

async fn list_unread_mark_read(db: Db) -> anyhow::Result<()> {
    let t = TestDb::open(db).await?;
    let n = NotificationService::new(t.store.clone());
    let (alice, bob) = (UserId::new(), UserId::new());
    let mut made = Vec::new();
    for i in 0..5 {
        let got = n
            .notify(
                &format!("ev-{i}"),
                std::slice::from_ref(&alice),
                "welcome",
                json!({ "i": i }),
            )
            .await?;
        made.push(got[0].id.clone());
    }
    let bobs = n
        .notify("ev-0", std::slice::from_ref(&bob), "welcome", json!({}))
        .await?;
    let bobs_id = bobs[0].id.clone();

    // Newest first, a page at a time.
    let all = n.list(&alice, false, None, 0).await?;
    let ids: Vec<_> = all.iter().map(|x| x.id.clone()).collect();
    let mut newest_first = made.clone();
    newest_first.reverse();
    assert_eq!(ids, newest_first);
    let page = n.list(&alice, false, None, 2).await?;
    assert_eq!(page.len(), 2);
    let next = n.list(&alice, false, Some(&page[1].id), 2).await?;
    assert_eq!(
        next.iter().map(|x| &x.id).collect::<Vec<_>>(),
        vec![&made[2], &made[1]]
    );

    // Alice cannot mark Bob's; unknown ids are ignored.
    let unknown = uuid::Uuid::now_v7().to_string();
    let changed = n
        .mark_read(&alice, Some(&[made[0].clone(), bobs_id.clone(), unknown]))
        .await?;
    assert_eq!(changed, 1);
    assert_eq!(n.unread_count(&bob).await?, 1);
    assert_eq!(n.unread_count(&alice).await?, 4);
    assert_eq!(n.mark_read(&alice, Some(&[made[0].clone()])).await?, 0);
    let unread = n.list(&alice, true, None, 10).await?;
    assert_eq!(unread.len(), 4);
    assert!(unread.iter().all(|x| x.read_at.is_none()));
    let read = n.list(&alice, false, None, 10).await?;
    assert!(read.iter().any(|x| x.id == made[0] && x.read_at.is_some()));

    // Bad ids are refused with a clear error and change nothing.
    for bad in [
        "",
        "not-an-id",
        "x'; UPDATE notifications SET read_at = 1; --",
    ] {
        let err = n.mark_read(&alice, Some(&[bad.to_owned()])).await.err();
        assert_eq!(err.as_ref().map(|e| e.code()), Some("invalid_input"));
        let err = n.list(&alice, false, Some(bad), 10).await.err();
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::InvalidInput));
    }
    let too_many = vec![made[1].clone(); domain::service::MAX_MARK_IDS + 1];
    assert!(n.mark_read(&alice, Some(&too_many)).await.is_err());
    assert!(n.list(&alice, false, None, 201).await.is_err());
    assert_eq!(n.unread_count(&alice).await?, 4);
    assert_eq!(n.mark_read(&alice, Some(&[])).await?, 0);

    // All of one's own.
    assert_eq!(n.mark_read(&alice, None).await?, 4);
    assert_eq!(n.unread_count(&alice).await?, 0);
    assert!(n.list(&alice, true, None, 10).await?.is_empty());
    assert_eq!(n.unread_count(&bob).await?, 1);
    let distinct: HashSet<_> = n
        .list(&alice, false, None, 10)
        .await?
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(distinct.len(), 5);
    t.finish().await
}
on_both_databases!(list_unread_mark_read_on, list_unread_mark_read);
