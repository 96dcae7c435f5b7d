//! Periodic clean-up of the store: expired idempotency keys and dedupe claims, and final
//! messages (with their carrier-id mappings) older than the retention period, so the store
//! file does not grow without bound.

use std::{sync::Arc, time::Duration};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::store::Store;

/// How long a final message stays queryable (GET /v1/messages/{id}) and correlatable.
pub const MESSAGE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Sweeps every ten minutes until `stop` is cancelled.
pub fn spawn(store: Arc<dyn Store>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(SWEEP_EVERY) => {}
                () = stop.cancelled() => return,
            }
            match store.sweep(MESSAGE_RETENTION).await {
                Ok(swept) => {
                    metrics::counter!("store_swept_messages_total")
                        .increment(swept.messages as u64);
                    if swept.part_sets > 0 {
                        // Until durable timers deliver incomplete sets, parts that never
                        // became whole end here: say so.
                        warn!(part_sets = swept.part_sets, "multipart MO sets never completed (nor delivered part by part) removed by retention");
                        metrics::counter!("store_swept_part_sets_total")
                            .increment(swept.part_sets as u64);
                    }
                    info!(?swept, "store swept");
                }
                Err(err) => error!(%err, "store sweep failed"),
            }
        }
    })
}
