//! CPU time used by the store servers, from /proc: each given server process and every
//! process below it (PostgreSQL serves each connection from a child), plus what its reaped
//! children used (so a backend that exits mid-run still counts).

use std::fs;

/// The store servers of one case, by the process ids the driver script started.
#[derive(Debug, Clone, Default)]
pub struct ServerCpu {
    roots: Vec<u32>,
    ticks_per_second: u64,
}

/// utime, stime, cutime, cstime and the parent of one process.
struct Stat {
    own: u64,
    reaped_children: u64,
    parent: u32,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        own: field(14)? + field(15)?,
        reaped_children: field(16)? + field(17)?,
        parent: u32::try_from(field(4)?).ok()?,
    })
}

impl ServerCpu {
    pub fn new(roots: Vec<u32>, ticks_per_second: u64) -> Self {
        Self {
            roots,
            ticks_per_second: ticks_per_second.max(1),
        }
    }

    /// Microseconds of CPU the servers have used so far; None when no server is named.
    pub fn sample(&self) -> Option<u64> {
        if self.roots.is_empty() {
            return None;
        }
        let mut ticks = 0;
        let all: Vec<(u32, Stat)> = fs::read_dir("/proc")
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| Some((pid, stat(pid)?)))
            .collect();
        for (pid, stat) in &all {
            if self.roots.contains(pid) {
                ticks += stat.own + stat.reaped_children;
            } else if self.roots.contains(&stat.parent) {
                ticks += stat.own;
            }
        }
        Some(ticks * 1_000_000 / self.ticks_per_second)
    }
}
