//! CPU time of other processes (the servers under load) over the send window, read
//! from `/proc/PID/stat` (user + system time of all threads). Linux only; elsewhere, or
//! for a process that is gone, the figure is left out.

use std::time::Instant;

/// A process to watch: a name for the report and its pid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// What the report calls it.
    pub name: String,
    /// Its process id.
    pub pid: u32,
}

impl std::str::FromStr for Watched {
    type Err = String;

    /// `NAME=PID`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, pid) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected NAME=PID"))?;
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: the pid is not a number"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("`{s}`: the name is empty"));
        }
        Ok(Self {
            name: name.to_owned(),
            pid,
        })
    }
}

/// CPU seconds (user + system) `pid` has used so far, or `None` when it cannot be read.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields are counted after its `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux configuration in use.
    100.0
}

/// The processes' CPU seconds at one moment, to subtract from later.
#[derive(Debug)]
pub(crate) struct Snapshot {
    at: Instant,
    seconds: Vec<(Watched, Option<f64>)>,
}

impl Snapshot {
    pub(crate) fn take(watched: &[Watched]) -> Self {
        Self {
            at: Instant::now(),
            seconds: watched
                .iter()
                .map(|w| (w.clone(), cpu_seconds(w.pid)))
                .collect(),
        }
    }

    /// CPU seconds each process used since this snapshot (and the wall-clock seconds).
    pub(crate) fn since(&self) -> (f64, Vec<(String, f64)>) {
        let used = self
            .seconds
            .iter()
            .filter_map(|(w, before)| Some((w.name.clone(), cpu_seconds(w.pid)? - (*before)?)))
            .collect();
        (self.at.elapsed().as_secs_f64(), used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_pid() {
        assert_eq!(
            "im1=42".parse::<Watched>(),
            Ok(Watched {
                name: "im1".into(),
                pid: 42
            })
        );
        assert!("im1".parse::<Watched>().is_err());
        assert!("im1=x".parse::<Watched>().is_err());
    }

    #[test]
    fn reads_its_own_cpu_time() {
        let me = std::process::id();
        let before = cpu_seconds(me).expect("own /proc stat");
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed().as_millis() < 60 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let after = cpu_seconds(me).expect("own /proc stat");
        assert!(after >= before + 0.02, "{before} -> {after}");
    }
}
