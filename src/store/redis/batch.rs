//! Group commit for the Redis store: steps from concurrent callers go to Redis together, in
//! one run of the commit script, so under load the cost of a script call (and of a round
//! trip) is paid per batch rather than per step.
//!
//! A batch leaves as soon as a connection is free: at low load every step is a batch of one
//! and waits for nothing; under load, steps that arrive while every connection is busy are
//! sent together when one frees up. Each step stays all-or-nothing (the script checks its
//! guards, then writes), and steps of one batch apply in order.

use futures_util::{stream::FuturesUnordered, StreamExt};
use redis::Script;
use tokio::sync::{mpsc, oneshot};

use super::{
    connect::Connection,
    scripts::{step_result, Step, StepResult, COMMIT},
};
use crate::store::StoreError;

/// Most steps in one script run: bounds how long Redis is busy with one call.
const MAX_BATCH: usize = 128;

type Reply = oneshot::Sender<Result<StepResult, StoreError>>;

/// Sends steps to Redis in batches. See the module documentation.
pub struct StepBatcher {
    queue: mpsc::UnboundedSender<(Step, Reply)>,
}

impl StepBatcher {
    /// Starts the committing task; it ends when the batcher is dropped and every batch sent
    /// has been answered. At most one batch is in flight per connection.
    pub fn start(connections: Vec<Connection>) -> Self {
        let (queue, incoming) = mpsc::unbounded_channel();
        tokio::spawn(commit_loop(incoming, connections));
        Self { queue }
    }

    /// Runs `step` atomically (in whatever batch it joins).
    pub async fn run(&self, step: Step) -> Result<StepResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((step, reply))
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn commit_loop(
    mut incoming: mpsc::UnboundedReceiver<(Step, Reply)>,
    connections: Vec<Connection>,
) {
    let script = Script::new(COMMIT);
    let mut idle = connections;
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some(first) = incoming.recv(), if !idle.is_empty() => {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match incoming.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let conn = idle.pop().expect("checked non-empty");
                in_flight.push(commit(&script, conn, batch));
            }
            Some(conn) = in_flight.next(), if !in_flight.is_empty() => idle.push(conn),
            else => return,
        }
    }
}

/// Runs one batch and answers each step's caller; gives the connection back.
async fn commit(script: &Script, mut conn: Connection, batch: Vec<(Step, Reply)>) -> Connection {
    let mut keys = Vec::new();
    let mut args = Vec::new();
    let mut replies = Vec::with_capacity(batch.len());
    for (step, reply) in batch {
        step.append_to(&mut keys, &mut args);
        replies.push(reply);
    }
    let mut invocation = script.prepare_invoke();
    for key in &keys {
        invocation.key(key);
    }
    for arg in &args {
        invocation.arg(arg);
    }
    let outcomes: Result<Vec<String>, StoreError> = invocation
        .invoke_async(&mut conn)
        .await
        .map_err(StoreError::backend);
    match outcomes {
        Ok(outcomes) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(step_result(&outcome));
            }
        }
        Ok(outcomes) => {
            let error = StoreError::Backend(format!(
                "commit script answered {} of {} steps",
                outcomes.len(),
                replies.len()
            ));
            answer_all(replies, error);
        }
        Err(error) => answer_all(replies, error),
    }
    conn
}

fn answer_all(replies: Vec<Reply>, error: StoreError) {
    for reply in replies {
        let _ = reply.send(Err(error.clone()));
    }
}
