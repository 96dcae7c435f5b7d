//! What the cases write: an MT record of about the size the gateway stores (~1.5 KB of
//! JSON), and keys unique to a run, a task and a call.

use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of a record, about what `MessageRecord` of a one-part MT serialises to.
pub const RECORD_SIZE: usize = 1500;

/// A record body of [`RECORD_SIZE`] bytes naming `id` and `version`.
pub fn record(id: &str, version: u64) -> Vec<u8> {
    let head = format!("{{\"id\":\"{id}\",\"version\":{version},\"text\":\"");
    let mut body = head.into_bytes();
    body.resize(RECORD_SIZE - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

/// A prefix unique to this run, so cases never meet keys of an earlier run.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("r{:x}", nanos % (1 << 40))
}

/// The key of call `n` of `task` in `run`.
pub fn key(run: &str, task: usize, n: u64) -> String {
    format!("{run}-{task}-{n}")
}
