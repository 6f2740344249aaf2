//! `loadgen`: drives a running deployment and prints what it measured. Exits 1 when
//! the run found a problem (a delivery lost, duplicated or out of order, a send refused
//! or never confirmed, a connection closed, a watched process gone) or could not run,
//! 2 on bad arguments.
//!
//! ```sh
//! cargo run --release -p loadgen -- --server http://127.0.0.1:8080 --users 200 --groups 20 --rate 1000 --duration 30
//! # gorilla-hub, or im-core's relay server, over the fan-out micro protocol:
//! cargo run --release -p loadgen -- --protocol micro --server http://127.0.0.1:9100 --users 1000 --groups 10 --rate 5000
//! ```

use std::time::Duration;

use clap::Parser;

/// Load generator for a running social-im deployment.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Base URL of the deployment (the all-in-one server or the gateway).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// WebSocket users.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Groups they are spread over.
    #[arg(long, default_value_t = 10)]
    groups: usize,
    /// Messages per second, all senders together (at most 20 per user).
    #[arg(long, default_value_t = 200.0, value_parser = positive_number, allow_negative_numbers = true)]
    rate: f64,
    /// Seconds to send (at most a day).
    #[arg(long, default_value_t = 10.0, value_parser = seconds, allow_negative_numbers = true)]
    duration: f64,
    /// A run of seconds (20 users, 4 groups, 20 msg/s, 3 s), as CI runs it.
    #[arg(long, conflicts_with_all = ["users", "groups", "rate", "duration"])]
    smoke: bool,
    /// What the server speaks: `product` (the platform's API), or `micro` (the fan-out
    /// micro protocol of gorilla-hub and of im-core's relay benchmark server).
    #[arg(long, value_enum, default_value_t = ProtocolArg::Product)]
    protocol: ProtocolArg,
    /// Print the figures as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// A process whose CPU time over the send window to report, as NAME=PID
    /// (repeatable; Linux).
    #[arg(long, value_name = "NAME=PID")]
    watch: Vec<loadgen::Watched>,
}

/// A finite number above zero (a rate or a number of seconds).
fn positive_number(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n),
        Ok(_) => Err("must be a finite number above 0".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A number of seconds above zero, at most a day.
fn seconds(text: &str) -> Result<f64, String> {
    match positive_number(text)? {
        n if n <= 86_400.0 => Ok(n),
        _ => Err("at most 86400 (a day)".into()),
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ProtocolArg {
    Product,
    Micro,
}

/// Exit status 1: the run found a problem (or could not run); 2: bad arguments (clap).
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs and prints the report; `false` when it names a problem.
async fn run(args: Args) -> anyhow::Result<bool> {
    let mut config = if args.smoke {
        loadgen::Config::smoke(&args.server)
    } else {
        loadgen::Config {
            server: args.server.trim_end_matches('/').to_owned(),
            users: args.users,
            groups: args.groups,
            rate: args.rate,
            duration: Duration::from_secs_f64(args.duration),
            progress: false,
            protocol: loadgen::Protocol::Product,
            watch: Vec::new(),
        }
    };
    config.watch = args.watch;
    config.protocol = match args.protocol {
        ProtocolArg::Product => loadgen::Protocol::Product,
        ProtocolArg::Micro => loadgen::Protocol::Micro,
    };
    config.progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = loadgen::run(&config).await?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{report}");
    }
    Ok(report.problems().is_empty())
}

#[cfg(test)]
mod tests {
    use super::{positive_number, seconds};

    #[test]
    fn rates_and_durations_must_be_finite_and_positive() {
        assert_eq!(positive_number("2.5"), Ok(2.5));
        for bad in ["0", "-1", "NaN", "inf", "-inf", "", "ten"] {
            assert!(positive_number(bad).is_err(), "{bad}");
        }
        assert_eq!(seconds("86400"), Ok(86_400.0));
        assert!(seconds("86401").is_err());
    }
}
