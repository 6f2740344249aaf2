//! The load generator still works: a smoke-size run against the all-in-one binary
//! (20 users in 4 groups, 20 messages/s for 3 s) delivers everything, in order.

// Tests may panic on what they did not expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e::deploy::Deployment;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smoke_run_loses_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let deployment = Deployment::all_in_one(dir.path()).await?;
    let report = loadgen::run(&loadgen::Config::smoke(&deployment.base)).await?;
    println!("{report}");
    assert!(report.confirmed > 0, "{report}");
    assert_eq!(report.confirmed, report.sent, "{report}");
    assert_eq!(report.delivered, report.expected, "{report}");
    assert_eq!(
        (
            report.lost,
            report.duplicates,
            report.out_of_order,
            report.disconnects
        ),
        (0, 0, 0, 0),
        "{report}"
    );
    deployment.stop().await
}
