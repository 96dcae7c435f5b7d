//! An acknowledged MT is durable before its acknowledgement: under SMPP load on the embedded
//! store, every submit_sm_resp a client receives names a message whose record a group commit
//! (redb commit, fsynced) had already written. The committer's TRACE event
//! (`smsgw::store::kv::COMMITTED_TRACE_TARGET`), emitted after each commit and before its
//! writers are answered, is captured here; the kill -9 tests cannot show this order, since
//! the page cache survives a killed process.

mod gateway;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use futures_util::{stream::FuturesUnordered, StreamExt};
use gateway::*;
use smsgw::store::embedded::kv::COMMITTED_TRACE_TARGET;
use smsgw_smpp::BindKind;
use tracing_subscriber::{layer::SubscriberExt, Layer};

/// What the committer reported durable.
#[derive(Default)]
struct Committed {
    messages: Mutex<HashSet<String>>,
    /// The most batches (writers) one commit covered.
    largest_group: AtomicUsize,
}

/// A layer that records the committer's events.
struct CommitRecorder(Arc<Committed>);

impl<S: tracing::Subscriber> Layer<S> for CommitRecorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields<'a>(&'a Committed);
        impl tracing::field::Visit for Fields<'_> {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "batches" {
                    self.0
                        .largest_group
                        .fetch_max(value as usize, Ordering::SeqCst);
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "messages" {
                    let keys = format!("{value:?}");
                    let mut messages = self.0.messages.lock().unwrap();
                    messages.extend(keys.split_whitespace().map(str::to_owned));
                }
            }
        }
        event.record(&mut Fields(&self.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_mt_was_committed_before_its_submit_sm_resp() {
    const MTS: usize = 2000;
    const WINDOW: usize = 64;
    let committed = Arc::new(Committed::default());
    let only_commits = tracing_subscriber::filter::Targets::new()
        .with_target(COMMITTED_TRACE_TARGET, tracing::Level::TRACE);
    // Global: the committer is a thread of its own. This file holds one test.
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(CommitRecorder(committed.clone()).with_filter(only_commits)),
    )
    .unwrap();

    let test = TestGateway::start().await;
    let (client, _incoming) = test.bind(BindKind::Transmitter).await;
    let mut in_flight = FuturesUnordered::new();
    let mut acknowledged = 0;
    let mut early = Vec::new();
    let mut answer = |result: Result<String, _>| {
        let id: String = result.expect("submit accepted");
        // Checked the moment the answer is in: a commit after it would come too late.
        if !committed.messages.lock().unwrap().contains(&id) {
            early.push(id);
        }
        acknowledged += 1;
    };
    let load = async {
        for n in 0..MTS {
            let client = client.clone();
            in_flight.push(async move {
                client
                    .submit(submit("447700900001", &format!("durable {n}"), true))
                    .await
            });
            if in_flight.len() >= WINDOW {
                answer(in_flight.next().await.unwrap());
            }
        }
        while let Some(result) = in_flight.next().await {
            answer(result);
        }
    };
    tokio::time::timeout(Duration::from_secs(120), load)
        .await
        .expect("the load did not finish within 120 s");
    let largest_group = committed.largest_group.load(Ordering::SeqCst);
    println!(
        "acknowledged {acknowledged}, before their commit {}, largest group commit {largest_group}",
        early.len()
    );
    assert_eq!(acknowledged, MTS);
    assert!(
        largest_group > 1,
        "no commit covered more than one write: the load never overlapped its fsyncs"
    );
    assert!(
        early.is_empty(),
        "{} MTs acknowledged before the commit holding them: {:?}",
        early.len(),
        &early[..early.len().min(5)]
    );
}
