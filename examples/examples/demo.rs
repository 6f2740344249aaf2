//! The demo: plays the platform's story against a running server and prints what
//! happens — four people register, an organiser publishes two activities (each gets a
//! group chat), sign-ups are accepted, approved or rejected (and notified), members
//! chat, an offline member comes back and catches up, a member is removed, and the
//! cancelled activity's group is dissolved. Every step is checked.
//!
//! ```sh
//! cargo run --release --bin social-im                 # in one terminal
//! cargo run -p examples --example demo                # in another
//! cargo run -p examples --example demo -- http://host:8080
//! ```

use e2e::story;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SERVER").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    println!("playing the story against {base}");
    let mut say = |line: String| println!("- {line}");
    let report = story::play(&base, &mut say).await?;
    println!(
        "done: {} chat messages in order, {} caught up after being offline, notifications seen live: {}",
        report.messages,
        report.caught_up,
        report.notifications.join(", ")
    );
    Ok(())
}
