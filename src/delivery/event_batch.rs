//! The `delivered` events of one deliverer, committed together: deliveries finish many at a
//! time, and one change holding the events of all that finished meanwhile is one store write
//! (and one entry for the event logger) instead of one each. A delivery waits for its events
//! to be written before its entry is marked done.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::{
    event::Event,
    store::{Change, Store, StoreError},
};

/// Most deliveries' events in one change.
const MAX_BATCH: usize = 512;

type Request = (Vec<Event>, oneshot::Sender<Result<(), String>>);

/// See the module documentation. The committing task ends when this is dropped.
pub struct EventBatch {
    requests: mpsc::Sender<Request>,
}

impl EventBatch {
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (requests, mut incoming) = mpsc::channel::<Request>(MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = incoming.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match incoming.try_recv() {
                        Ok(request) => batch.push(request),
                        Err(_) => break,
                    }
                }
                let events = batch
                    .iter_mut()
                    .flat_map(|(events, _)| std::mem::take(events))
                    .collect();
                let written = store
                    .commit(Change::of_events(events))
                    .await
                    .map(|_| ())
                    .map_err(|err| err.to_string());
                for (_, reply) in batch {
                    let _ = reply.send(written.clone());
                }
            }
        });
        Self { requests }
    }

    /// Writes `events` with those of the deliveries finishing at the same time.
    pub async fn record(&self, events: Vec<Event>) -> Result<(), StoreError> {
        let (reply, written) = oneshot::channel();
        let gone = || StoreError::Backend("the deliverer's event batch ended".into());
        self.requests
            .send((events, reply))
            .await
            .map_err(|_| gone())?;
        written
            .await
            .map_err(|_| gone())?
            .map_err(StoreError::Backend)
    }
}
