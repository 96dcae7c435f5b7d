//! Wake-ups across nodes. A step that adds work to a connector queue or an account outbox
//! publishes the queue's topic on the deployment's channel (once per batch and topic, see
//! `scripts::COMMIT`); every store subscribes to that channel and wakes its local waiters at
//! once, instead of finding the work at their next poll. Polling stays as the fallback (lost
//! subscription, due retries, leases that ran out), at a slower pace.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use futures_util::StreamExt;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use super::connect::{self, Target};

/// How long the subscriber waits before subscribing again after losing its connection.
const RESUBSCRIBE_AFTER: Duration = Duration::from_secs(1);

/// The topic of a connector's queue.
pub fn mts_topic(connector: &str) -> String {
    format!("mts\u{1f}{connector}")
}

/// The topic of an account's outbox.
pub fn outbox_topic(account: &str) -> String {
    format!("outbox\u{1f}{account}")
}

/// Local waiters per topic, woken by the subscriber. See the module documentation.
pub struct Wakeups {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    /// Dropped with the store: tells the subscriber to stop.
    _stop: watch::Sender<()>,
}

impl Wakeups {
    /// Starts subscribing to `channel` on `target`; the subscription ends when the returned
    /// value is dropped.
    pub fn start(target: Target, channel: String) -> Arc<Self> {
        let (stop, stopped) = watch::channel(());
        let wakeups = Arc::new(Self {
            waiters: Mutex::default(),
            _stop: stop,
        });
        tokio::spawn(subscribe(
            Arc::downgrade(&wakeups),
            target,
            channel,
            stopped,
        ));
        wakeups
    }

    /// What a waiter for `topic` waits on.
    pub fn notify_for(&self, topic: &str) -> Arc<Notify> {
        self.lock().entry(topic.to_owned()).or_default().clone()
    }

    fn wake(&self, topic: &str) {
        if let Some(notify) = self.lock().get(topic) {
            notify.notify_waiters();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Subscribes (again after each loss) until `stopped` says the store is gone.
async fn subscribe(
    wakeups: Weak<Wakeups>,
    target: Target,
    channel: String,
    mut stopped: watch::Receiver<()>,
) {
    loop {
        let subscribed = async {
            let client = connect::client(&target).await?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            redis::RedisResult::Ok(pubsub)
        };
        let pubsub = tokio::select! {
            subscribed = subscribed => subscribed,
            _ = stopped.changed() => return,
        };
        match pubsub {
            Ok(pubsub) => {
                info!("redis: subscribed to wake-ups");
                let mut messages = pubsub.into_on_message();
                loop {
                    let message = tokio::select! {
                        message = messages.next() => message,
                        _ = stopped.changed() => return,
                    };
                    let Some(message) = message else {
                        warn!("redis: wake-up subscription lost; polling until it is back");
                        break;
                    };
                    let Some(wakeups) = wakeups.upgrade() else {
                        return;
                    };
                    if let Ok(topic) = message.get_payload::<String>() {
                        wakeups.wake(&topic);
                    }
                }
            }
            Err(err) => warn!(%err, "redis: cannot subscribe to wake-ups; polling meanwhile"),
        }
        tokio::select! {
            () = tokio::time::sleep(RESUBSCRIBE_AFTER) => {}
            _ = stopped.changed() => return,
        }
    }
}
