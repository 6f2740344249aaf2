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
    assert_eq!(report.problems(), Vec::<String>::new(), "{report}");
    deployment.stop().await
}

/// A configuration that cannot run is refused before anything is sent (the server here
/// does not exist: a refusal that tried to reach it would say so instead).
#[tokio::test]
async fn impossible_configurations_are_refused_up_front() {
    let base = loadgen::Config::smoke("http://127.0.0.1:1");
    let cases: Vec<(&str, loadgen::Config, &str)> = vec![
        (
            "no users",
            loadgen::Config {
                users: 0,
                ..base.clone()
            },
            "need users and groups",
        ),
        (
            "no groups",
            loadgen::Config {
                groups: 0,
                ..base.clone()
            },
            "need users and groups",
        ),
        (
            "more groups than users",
            loadgen::Config {
                groups: 21,
                ..base.clone()
            },
            "more groups than users",
        ),
        (
            "rate 0",
            loadgen::Config {
                rate: 0.0,
                ..base.clone()
            },
            "rate must be",
        ),
        (
            "negative rate",
            loadgen::Config {
                rate: -5.0,
                ..base.clone()
            },
            "rate must be",
        ),
        (
            "NaN rate",
            loadgen::Config {
                rate: f64::NAN,
                ..base.clone()
            },
            "rate must be",
        ),
        (
            "infinite rate",
            loadgen::Config {
                rate: f64::INFINITY,
                ..base.clone()
            },
            "rate must be",
        ),
        (
            "over the per-user limit",
            loadgen::Config {
                rate: 1_000.0,
                ..base.clone()
            },
            "per-user limit",
        ),
    ];
    for (what, config, expected) in cases {
        let error = loadgen::run(&config).await.expect_err(what).to_string();
        assert!(error.contains(expected), "{what}: {error}");
    }
}
