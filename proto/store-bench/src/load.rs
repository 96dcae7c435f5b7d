//! The load loop every case shares: `concurrency` tasks each run one operation after the
//! other until the time is up; the first `warmup` is not counted. What comes out is a
//! [`Report`]: operations per second, latency percentiles and the store servers' CPU per
//! operation over the counted window.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::cpu::ServerCpu;

/// How long and how wide one case runs.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

/// The outcome of one case.
#[derive(Debug, Default)]
pub struct Report {
    pub ops: usize,
    pub errors: usize,
    pub seconds: f64,
    /// Latencies of the counted successful operations, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Server CPU over the counted window, in microseconds (None: no server given).
    pub server_cpu_us: Option<u64>,
    /// The first error seen, to say why a case failed.
    pub first_error: Option<String>,
}

impl Report {
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[rank] as f64 / 1000.0
    }

    /// One markdown table row: backend, case, concurrency, ops/s, p50, p99, CPU us/op, errors.
    pub fn row(&self, backend: &str, case: &str, concurrency: usize) -> String {
        let rate = self.ops as f64 / self.seconds;
        let cpu = match self.server_cpu_us {
            Some(us) if self.ops > 0 => format!("{:.0}", us as f64 / self.ops as f64),
            _ => "-".to_owned(),
        };
        format!(
            "| {backend} | {case} | {concurrency} | {rate:.0} | {:.2} | {:.2} | {cpu} | {} |",
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.errors
        )
    }
}

/// What one task saw.
#[derive(Default)]
struct TaskTally {
    ops: usize,
    errors: usize,
    latencies_us: Vec<u64>,
    first_error: Option<String>,
}

/// Runs `op(task, n)` from `shape.concurrency` tasks (n counts each task's calls) and
/// measures the counted window; `cpu` samples the store servers at its edges.
pub async fn run<F, Fut>(shape: Shape, cpu: &ServerCpu, op: F) -> Report
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let counted_from = start + shape.warmup;
    let deadline = counted_from + shape.measure;
    let mut tasks = Vec::with_capacity(shape.concurrency);
    for task in 0..shape.concurrency {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut tally = TaskTally::default();
            let mut n = 0u64;
            loop {
                let began = Instant::now();
                if began >= deadline {
                    break;
                }
                let outcome = op(task, n).await;
                n += 1;
                if began < counted_from {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        tally.ops += 1;
                        tally.latencies_us.push(began.elapsed().as_micros() as u64);
                    }
                    Err(error) => {
                        tally.errors += 1;
                        tally
                            .first_error
                            .get_or_insert_with(|| format!("{error:#}"));
                    }
                }
            }
            tally
        }));
    }
    tokio::time::sleep_until(counted_from.into()).await;
    let cpu_before = cpu.sample();
    tokio::time::sleep_until(deadline.into()).await;
    let cpu_after = cpu.sample();
    let mut report = Report {
        seconds: shape.measure.as_secs_f64(),
        server_cpu_us: cpu_before.zip(cpu_after).map(|(b, a)| a.saturating_sub(b)),
        ..Report::default()
    };
    for task in tasks {
        let Ok(tally) = task.await else {
            report.errors += 1;
            continue;
        };
        report.ops += tally.ops;
        report.errors += tally.errors;
        report.latencies_us.extend(tally.latencies_us);
        if report.first_error.is_none() {
            report.first_error = tally.first_error;
        }
    }
    report.latencies_us.sort_unstable();
    report
}
