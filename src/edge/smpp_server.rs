//! Glue between the SMPP server (where clients bind) and the gateway: authentication against
//! the accounts, max binds per account (cluster-wide: [`crate::account_limits::binds`]), submit_sm, data_sm and each address of a submit_multi
//! into [`Ingest`] (one MT each, by one path), query_sm, cancel_sm and replace_sm into the
//! `lifecycle` flows, errors as SMPP statuses.

use std::{
    net::SocketAddr,
    sync::{Arc, OnceLock},
};

use smsgw_smpp::{
    encoding::{InboundPart, SmppTime},
    rusmpp::{pdus::SubmitSm, CommandStatus},
    server::BindHandler,
    BindRequest, CancelRequest, MessageStatus, MultiDestination, MultiOutcome, QueryRequest,
    RefusedDestination, Registry, ReplaceRequest, SessionHandle, SessionWindows,
};
use tracing::{info, warn};

use crate::{
    account_limits::{BindLimits, BindSlot},
    auth::AuthError,
    ingest::{Ingest, IngestError, MtRequest},
    lifecycle::{self, LifecycleError, MtStatus, NewBody},
    message::{now_ms, priority_from_smpp, Interface, MessageId, Payload, Timing},
};

/// The gateway's [`BindHandler`].
pub struct GatewaySmsc {
    ingest: Arc<Ingest>,
    binds: BindLimits,
    /// Set once the server exists, to count an account's binds.
    registry: OnceLock<Arc<Registry>>,
}

/// A bound client: its account's system_id, the windows of its binds, and its place among the
/// account's `max_binds` (given back when this is dropped with the session).
#[derive(Debug, Clone)]
pub struct BoundAccount {
    pub system_id: String,
    pub windows: SessionWindows,
    pub slot: Arc<BindSlot>,
}

impl GatewaySmsc {
    pub fn new(ingest: Arc<Ingest>) -> Self {
        Self {
            binds: BindLimits::new(ingest.store().clone()),
            ingest,
            registry: OnceLock::new(),
        }
    }

    pub fn set_registry(&self, registry: Arc<Registry>) {
        let _ = self.registry.set(registry);
    }
}

/// The submit_sm_resp status of an MT to a number that opted out: the first of SMPP 3.4's
/// vendor-specific range (0x400-0x4FF), so a client tells it from a bad destination.
pub const OPTED_OUT_STATUS: u32 = 0x0000_0400;

/// The SMPP status for a bind or an MT the gateway refused.
pub fn refusal_status(error: &IngestError) -> CommandStatus {
    match error {
        IngestError::Auth(AuthError::Rejected) => CommandStatus::EsmeRinvpaswd,
        // Locked out or no verifier free: not a verdict on the password. ESME_RBINDFAIL, as
        // the lockout always answered, makes clients retry after their rebind delay.
        IngestError::Auth(AuthError::Locked(_) | AuthError::Busy) => CommandStatus::EsmeRbindfail,
        IngestError::SenderNotAllowed(_) => CommandStatus::EsmeRinvsrcadr,
        IngestError::InvalidDestination(_) | IngestError::NoRoute(_) => {
            CommandStatus::EsmeRinvdstadr
        }
        IngestError::EmptyText | IngestError::TooLong { .. } | IngestError::Unencodable(_) => {
            CommandStatus::EsmeRinvmsglen
        }
        IngestError::UnknownCarrier(_) => CommandStatus::EsmeRinvdstadr,
        IngestError::InvalidSchedule(_) => CommandStatus::EsmeRinvsched,
        IngestError::InvalidValidity(_) => CommandStatus::EsmeRinvexpiry,
        IngestError::Throttled => CommandStatus::EsmeRthrottled,
        IngestError::OptedOut(_) => CommandStatus::Other(OPTED_OUT_STATUS),
        IngestError::Conflict { .. } => CommandStatus::EsmeRsubmitfail,
        // Not accepted, worth a retry: the client keeps the message.
        IngestError::Store(_) => CommandStatus::EsmeRmsgqful,
    }
}

/// The SMPP status for a refused query_sm, cancel_sm or replace_sm: `refused` when the
/// message is not this account's, or not queued any more.
fn lifecycle_status(error: &LifecycleError, refused: CommandStatus) -> CommandStatus {
    match error {
        LifecycleError::NotFound(_)
        | LifecycleError::TooLate { .. }
        | LifecycleError::NotReplaceable(_) => refused,
        LifecycleError::Store(error) => {
            warn!(%error, "store failed during a query, cancel or replace");
            CommandStatus::EsmeRsyserr
        }
    }
}

/// A query_sm_resp's values: `error_code` is the carrier's `err:` when it is a number that
/// fits (0..=255), else 0.
fn query_answer(status: MtStatus) -> MessageStatus {
    MessageStatus {
        message_id: status.id.to_string(),
        message_state: status.state.code(),
        final_at_ms: status.final_at_ms,
        error_code: status.error.trim().parse().unwrap_or(0),
    }
}

/// Reads a client's submit_sm into an MT request; its body travels unchanged.
fn mt_request(submit: &SubmitSm) -> Result<MtRequest, CommandStatus> {
    let part = InboundPart::from_submit_sm(submit).map_err(|_| CommandStatus::EsmeRinvesmclass)?;
    let esm_class = u8::from(submit.esm_class);
    let payload = Payload::Pdu {
        data_coding: u8::from(submit.data_coding),
        esm_class: esm_class & 0x40,
        short_message: submit.short_message().to_vec(),
        message_payload: submit.tlvs().iter().find_map(|tlv| match tlv.value() {
            Some(smsgw_smpp::rusmpp::tlvs::TlvValue::MessagePayload(p)) => Some(p.value.to_vec()),
            _ => None,
        }),
        // With UDHI the concatenation header is inside short_message already.
        sar: (esm_class & 0x40 == 0)
            .then_some(part.segment)
            .flatten()
            .map(|s| (s.reference, s.total, s.seq)),
    };
    let priority = priority_from_smpp(u8::from(submit.priority_flag));
    let now = now_ms();
    let time = |field: &[u8], refused: CommandStatus| {
        SmppTime::parse(field)
            .map(|time| time.map(|time| time.at_ms(now)))
            .map_err(|_| refused)
    };
    let timing = Timing {
        send_at_ms: time(
            submit.schedule_delivery_time.as_str().as_bytes(),
            CommandStatus::EsmeRinvsched,
        )?,
        valid_until_ms: time(
            submit.validity_period.as_str().as_bytes(),
            CommandStatus::EsmeRinvexpiry,
        )?,
        dr_timeout_ms: None,
    };
    Ok(MtRequest {
        client_message_id: None,
        source: submit.source_addr.as_str().to_owned(),
        destination: submit.destination_addr.as_str().to_owned(),
        payload,
        priority,
        receipt: u8::from(submit.registered_delivery) & 0x03 != 0,
        app_id: None,
        conversation_id: None,
        carrier: None,
        interface: Interface::Smpp,
        answered_with_client_id: false,
        timing,
    })
}

impl BindHandler for GatewaySmsc {
    type Account = BoundAccount;

    async fn authenticate(
        &self,
        bind: &BindRequest,
        peer: SocketAddr,
    ) -> Result<BoundAccount, CommandStatus> {
        // The failed-login lockout is the gateway's (crate::auth), keyed on the client address
        // and the account; a max_binds refusal below is not a failed login.
        let account = self
            .ingest
            .authenticate_smpp(peer.ip(), &bind.system_id, &bind.password)
            .await
            .map_err(|error| refusal_status(&error))?;
        let bound_here = self
            .registry
            .get()
            .map_or(0, |registry| registry.sessions(&account.system_id).len());
        let Some(slot) = self
            .binds
            .claim(&account.system_id, account.max_binds, bound_here)
            .await
        else {
            info!(%peer, system_id = %account.system_id, max_binds = account.max_binds,
                "bind refused: max_binds reached across the cluster");
            metrics::counter!("smpp_binds_refused_max_binds_total", "account" => account.system_id.clone())
                .increment(1);
            return Err(CommandStatus::EsmeRbindfail);
        };
        Ok(BoundAccount {
            system_id: account.system_id.clone(),
            windows: SessionWindows {
                window: account.window as usize,
                inbound_window: account.inbound_window as usize,
            },
            slot: Arc::new(slot),
        })
    }

    fn session_windows(&self, bound: &BoundAccount) -> Option<SessionWindows> {
        Some(bound.windows)
    }

    fn on_unbound(&self, bound: &BoundAccount, _session: &SessionHandle) {
        // At once, not when the session's last reference goes.
        bound.slot.release();
    }

    async fn on_query(
        &self,
        bound: &BoundAccount,
        request: QueryRequest,
    ) -> Result<MessageStatus, CommandStatus> {
        // Found by id within the account; source_addr is not compared (clients differ in how
        // they write it, and the account already scopes the id).
        let id = MessageId(request.message_id);
        lifecycle::query_mt(&**self.ingest.store(), &bound.system_id, &id)
            .await
            .map(query_answer)
            .map_err(|error| lifecycle_status(&error, CommandStatus::EsmeRqueryfail))
    }

    async fn on_cancel(
        &self,
        bound: &BoundAccount,
        request: CancelRequest,
    ) -> Result<(), CommandStatus> {
        if request.is_group() {
            // Cancelling every queued MT between two addresses needs an index of queued MTs
            // by address, which the store does not keep: refused, by id only.
            info!(system_id = %bound.system_id, "cancel_sm without message_id refused: only cancel by id is supported");
            return Err(CommandStatus::EsmeRcancelfail);
        }
        let id = MessageId(request.message_id);
        match lifecycle::cancel_mt(&**self.ingest.store(), &bound.system_id, &id).await {
            Ok(()) => {
                info!(system_id = %bound.system_id, %id, "MT cancelled by its client");
                Ok(())
            }
            Err(error) => Err(lifecycle_status(&error, CommandStatus::EsmeRcancelfail)),
        }
    }

    async fn on_replace(
        &self,
        bound: &BoundAccount,
        request: ReplaceRequest,
    ) -> Result<(), CommandStatus> {
        // Only the body changes: registered_delivery, schedule_delivery_time, validity_period
        // and sm_default_msg_id are ignored (the MT keeps its receipt request; the gateway
        // schedules nothing).
        let id = MessageId(request.message_id);
        let body = NewBody {
            short_message: request.short_message,
            message_payload: request.message_payload,
        };
        lifecycle::replace_mt(&**self.ingest.store(), &bound.system_id, &id, body)
            .await
            .map_err(|error| lifecycle_status(&error, CommandStatus::EsmeRreplacefail))
    }

    async fn on_submit(
        &self,
        bound: &BoundAccount,
        _session: &SessionHandle,
        submit: SubmitSm,
    ) -> Result<String, CommandStatus> {
        let account = self
            .ingest
            .config()
            .account_by_system_id(&bound.system_id)
            .ok_or(CommandStatus::EsmeRinvsysid)?;
        let request = mt_request(&submit)?;
        match self.ingest.submit(account, request).await {
            Ok(accepted) => Ok(accepted.id().to_string()),
            Err(error) => Err(refusal_status(&error)),
        }
    }

    async fn on_data_sm(
        &self,
        bound: &BoundAccount,
        session: &SessionHandle,
        submit: SubmitSm,
    ) -> Result<String, CommandStatus> {
        // The submit_sm it stands for, through the same path: same refusals, same durability.
        self.on_submit(bound, session, submit).await
    }

    async fn on_submit_multi(
        &self,
        bound: &BoundAccount,
        session: &SessionHandle,
        destinations: Vec<MultiDestination>,
    ) -> Result<MultiOutcome, CommandStatus> {
        // Each SME address is one MT with its own id, accepted (durably) or refused on its
        // own; the answer waits for all of them.
        let results = futures_util::future::join_all(destinations.iter().map(|destination| {
            async move {
                match destination {
                    MultiDestination::Sme(submit) => {
                        self.on_submit(bound, session, (**submit).clone()).await
                    }
                    // The gateway keeps no distribution lists.
                    MultiDestination::DistributionList(name) => {
                        info!(system_id = %bound.system_id, list = %name, "submit_multi to a distribution list refused: none are kept");
                        Err(CommandStatus::EsmeRinvdlname)
                    }
                }
            }
        }))
        .await;
        Ok(multi_outcome(&destinations, results))
    }
}

/// A submit_multi_resp's values: the first accepted MT's id in the client's order of
/// destinations, and every refused destination with its status.
fn multi_outcome(
    destinations: &[MultiDestination],
    results: Vec<Result<String, CommandStatus>>,
) -> MultiOutcome {
    let mut outcome = MultiOutcome::default();
    for (destination, result) in destinations.iter().zip(results) {
        match result {
            Ok(id) => {
                outcome.message_id.get_or_insert(id);
            }
            Err(status) => outcome
                .refused
                .push(RefusedDestination::of(destination, status)),
        }
    }
    outcome
}
