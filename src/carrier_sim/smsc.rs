//! The simulator's [`BindHandler`]: who may bind, and what each submit_sm becomes (throttle,
//! prefix rule, message id, receipt and echo scheduled in the outbox).

use std::{
    net::SocketAddr,
    sync::{atomic::Ordering, Arc, OnceLock},
};

use smsgw_smpp::{
    rusmpp::{pdus::SubmitSm, CommandStatus},
    BindHandler, BindRequest, Registry, SessionHandle,
};
use tokio::time::Instant;
use tracing::debug;

use super::{
    ids::MessageIds,
    outbox::{Outbox, Pending},
    outgoing::{Outgoing, SimMo, SimReceipt},
    rules::{ReceiptRequest, Rule},
    stats::{bump, Counters},
    throttle::TokenBucket,
    CarrierSimConfig,
};

/// The carrier side of every bind.
pub(crate) struct SimSmsc {
    pub config: CarrierSimConfig,
    pub ids: MessageIds,
    pub throttle: Option<TokenBucket>,
    pub outbox: Arc<Outbox>,
    pub counters: Arc<Counters>,
    /// The server's registry, set right after the server is built (it owns the registry).
    pub registry: OnceLock<Arc<Registry>>,
}

impl SimSmsc {
    /// Whether this submit gets a receipt: asked for, final, and picked by `dr_ratio`.
    fn receipt_state(
        &self,
        submit: &SubmitSm,
        rule: Rule,
    ) -> Option<smsgw_smpp::rusmpp::values::MessageState> {
        let state = rule.final_state()?;
        let request =
            ReceiptRequest::from_registered_delivery(u8::from(submit.registered_delivery));
        let sampled = match self.config.dr_ratio {
            ratio if ratio >= 1.0 => true,
            ratio if ratio <= 0.0 => false,
            ratio => fastrand::f64() < ratio,
        };
        (request.wants(state) && sampled).then_some(state)
    }
}

impl BindHandler for SimSmsc {
    /// The bound system_id: receipts and MOs go back to binds of the same system_id.
    type Account = Arc<str>;

    async fn authenticate(
        &self,
        bind: &BindRequest,
        peer: SocketAddr,
    ) -> Result<Arc<str>, CommandStatus> {
        let Some(accounts) = &self.config.accounts else {
            return Ok(bind.system_id.as_str().into());
        };
        match accounts.iter().find(|(id, _)| *id == bind.system_id) {
            Some((_, password)) if *password == bind.password => Ok(bind.system_id.as_str().into()),
            Some(_) => Err(CommandStatus::EsmeRinvpaswd),
            None => {
                debug!(%peer, system_id = %bind.system_id, "unknown system_id");
                Err(CommandStatus::EsmeRinvsysid)
            }
        }
    }

    async fn on_submit(
        &self,
        account: &Arc<str>,
        _session: &SessionHandle,
        submit: SubmitSm,
    ) -> Result<String, CommandStatus> {
        if !self.config.submit_resp_delay.is_zero() {
            tokio::time::sleep(self.config.submit_resp_delay).await;
        }
        if let Some(bucket) = &self.throttle {
            if !bucket.try_take() {
                bump(&self.counters.submits_throttled);
                metrics::counter!("carrier_sim_submits_total", "result" => "throttled")
                    .increment(1);
                return Err(CommandStatus::EsmeRthrottled);
            }
        }
        let rule = Rule::for_destination(submit.destination_addr.as_str());
        if rule == Rule::Reject {
            bump(&self.counters.submits_rejected);
            metrics::counter!("carrier_sim_submits_total", "result" => "rejected").increment(1);
            return Err(CommandStatus::EsmeRsubmitfail);
        }
        let id = self.ids.next_id();
        bump(&self.counters.submits_accepted);
        metrics::counter!("carrier_sim_submits_total", "result" => "accepted").increment(1);

        let due = Instant::now() + self.config.dr_delay;
        if let Some(state) = self.receipt_state(&submit, rule) {
            let receipt = Outgoing::Receipt(SimReceipt::for_submit(&submit, id, state));
            let pending = Pending::new(account.clone(), receipt, due);
            match self.registry.get() {
                Some(registry) if self.config.dr_before_resp => {
                    // The receipt goes out, and is answered, before submit_sm_resp.
                    self.outbox.deliver_now(registry, pending).await;
                }
                _ => {
                    self.outbox.schedule(pending, due);
                }
            }
        }
        if rule.echoes_text() {
            let echo = Outgoing::Mo(SimMo::echo_of(&submit));
            self.outbox
                .schedule(Pending::new(account.clone(), echo, due), due);
        }
        Ok(self.config.id_style.response_id(id))
    }

    fn on_bound(&self, account: &Arc<str>, session: &SessionHandle) {
        bump(&self.counters.binds);
        self.counters.bound_sessions.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("carrier_sim_binds_total").increment(1);
        debug!(system_id = %account, session = %session.id(), kind = ?session.bind_kind(), "carrier-sim bind");
    }

    fn on_unbound(&self, account: &Arc<str>, session: &SessionHandle) {
        self.counters.bound_sessions.fetch_sub(1, Ordering::Relaxed);
        debug!(system_id = %account, session = %session.id(), "carrier-sim unbind");
    }
}
