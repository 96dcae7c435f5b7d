//! Wake-ups across nodes: a commit that queues an MT or appends to an outbox publishes the
//! queue's or outbox's topic on a core NATS subject (not stored, see
//! [`Subjects::wake`]); every store subscribes to its namespace's wake-ups and wakes its
//! local waiters at once. A take remembers the wake-ups it has seen, so one that comes
//! between a take and the next wait is not lost. What no wake-up announces (a retry's due
//! time, a lease that ran out) is found by the callers' next take after their wait's timeout.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use futures_util::StreamExt;
use tokio::sync::Notify;

use super::subjects::{Subjects, Topic};
use crate::store::StoreError;

#[derive(Default)]
struct Waiters {
    /// Wake-ups received so far.
    received: u64,
    /// `received` as the last take of the topic found it.
    seen: u64,
    notify: Arc<Notify>,
}

/// Local waiters per topic. See the module documentation.
#[derive(Default)]
pub struct Wakeups {
    topics: Mutex<HashMap<Topic, Waiters>>,
}

impl Wakeups {
    /// Subscribes to the wake-ups of `subjects`' namespace until the returned value is dropped
    /// (the client resubscribes after a reconnect by itself).
    pub async fn start(
        client: &async_nats::Client,
        subjects: &Subjects,
    ) -> Result<Arc<Self>, StoreError> {
        let mut subscription = client
            .subscribe(subjects.wakes())
            .await
            .map_err(StoreError::backend)?;
        // Subscribed at the server before any commit of this store can publish.
        client.flush().await.map_err(StoreError::backend)?;
        let wakeups = Arc::new(Self::default());
        let weak: Weak<Self> = Arc::downgrade(&wakeups);
        let subjects = subjects.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let Some(wakeups) = weak.upgrade() else {
                    return;
                };
                if let Some(topic) = subjects.topic_of(&message.subject) {
                    wakeups.wake(&topic);
                }
            }
        });
        Ok(wakeups)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, Waiters>> {
        self.topics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn wake(&self, topic: &Topic) {
        let mut topics = self.lock();
        let waiters = topics.entry(topic.clone()).or_default();
        waiters.received += 1;
        waiters.notify.notify_waiters();
    }

    /// A take of `topic` starts: it finds whatever the wake-ups so far announced.
    pub fn taking(&self, topic: &Topic) {
        let mut topics = self.lock();
        let waiters = topics.entry(topic.clone()).or_default();
        waiters.seen = waiters.received;
    }

    /// Returns once a wake-up for `topic` comes that the last take did not see, or `timeout`
    /// passes.
    pub async fn wait(&self, topic: &Topic, timeout: Duration) {
        let notify = {
            let mut topics = self.lock();
            let waiters = topics.entry(topic.clone()).or_default();
            if waiters.received != waiters.seen {
                return;
            }
            waiters.notify.clone()
        };
        let woken = notify.notified();
        tokio::pin!(woken);
        // Armed, then checked again: a wake-up in between is not lost.
        woken.as_mut().enable();
        {
            let topics = self.lock();
            if topics
                .get(topic)
                .is_some_and(|waiters| waiters.received != waiters.seen)
            {
                return;
            }
        }
        let _ = tokio::time::timeout(timeout, woken).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_on_an_unseen_wake_up_or_its_timeout() {
        let wakeups = Arc::new(Wakeups::default());
        let topic = Topic::Queue("sim".into());
        let started = tokio::time::Instant::now();
        wakeups.wait(&topic, Duration::from_secs(5)).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "nothing to wake it"
        );

        // A wake-up between a take and the wait: the wait returns at once.
        wakeups.taking(&topic);
        wakeups.wake(&topic);
        let before = tokio::time::Instant::now();
        wakeups.wait(&topic, Duration::from_secs(5)).await;
        assert_eq!(before.elapsed(), Duration::ZERO);

        // Seen by the next take: the wait waits until the next one.
        wakeups.taking(&topic);
        let waiter = {
            let wakeups = wakeups.clone();
            let topic = topic.clone();
            tokio::spawn(async move { wakeups.wait(&topic, Duration::from_secs(60)).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        wakeups.wake(&Topic::Outbox("sim".into()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "woken by another topic");
        wakeups.wake(&topic);
        waiter.await.unwrap();
        assert!(before.elapsed() < Duration::from_secs(60));
    }
}
