//! Spontaneous MOs at a configured rate: from `mo_source` to `mo_destination`, queued for the
//! configured system_id (they then wait for its receiving bind), or else for each account with
//! a receiving bind in turn (skipped while there is none).

use std::{sync::Arc, time::Duration};

use smsgw_smpp::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{
    outbox::{Outbox, Pending},
    outgoing::{Outgoing, Party, SimMo},
};

/// How often the generator wakes; MOs due in between are sent together.
const TICK: Duration = Duration::from_millis(10);

/// Where spontaneous MOs come from and go to.
pub(crate) struct MoSource {
    pub rate: f64,
    pub from: Party,
    pub to: Party,
    pub text: String,
    pub system_id: Option<Arc<str>>,
}

impl MoSource {
    /// Generates MOs until `stop` is cancelled.
    pub async fn run(self, outbox: Arc<Outbox>, registry: Arc<Registry>, stop: CancellationToken) {
        let period = TICK.max(Duration::from_secs_f64((1.0 / self.rate).min(3600.0)));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        let mut credit = 0.0_f64;
        let mut sent: u64 = 0;
        let mut turn: usize = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let now = Instant::now();
            // At most one second's worth after a stall, so a paused process does not flood.
            credit = (credit + now.duration_since(last).as_secs_f64() * self.rate)
                .min(self.rate.max(1.0));
            last = now;
            while credit >= 1.0 {
                credit -= 1.0;
                let Some(system_id) = self.target(&registry, &mut turn) else {
                    continue;
                };
                sent += 1;
                let text = format!("{} #{sent}", self.text);
                let mo = SimMo::text(self.from.clone(), self.to.clone(), &text);
                outbox.schedule(Pending::new(system_id, Outgoing::Mo(mo), now), now);
            }
        }
    }

    fn target(&self, registry: &Registry, turn: &mut usize) -> Option<Arc<str>> {
        if let Some(system_id) = &self.system_id {
            return Some(system_id.clone());
        }
        let receiving: Vec<String> = registry
            .accounts()
            .into_iter()
            .map(|(system_id, _)| system_id)
            .filter(|system_id| !registry.receivers(system_id).is_empty())
            .collect();
        if receiving.is_empty() {
            return None;
        }
        *turn = turn.wrapping_add(1);
        Some(receiving[*turn % receiving.len()].as_str().into())
    }
}
