//! Accepting an MT, whatever interface it came in on: authenticate, validate, route, apply
//! the account's throughput limit (cluster-wide: [`crate::account_limits`]), claim the idempotency key, write durably. The caller
//! acknowledges (HTTP 2xx, submit_sm_resp) only after [`Ingest::submit`] returned `Ok`.

use std::{net::IpAddr, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use smsgw_smpp::encoding::SegmentError;

use crate::{
    account_limits::Throughput,
    auth::{Attempt, AuthError, Authenticator},
    config::{Account, Config},
    destination::destination_digits,
    event::{Event, EventKind},
    message::{
        now_ms, IdGenerator, Interface, MessageId, Mt, OutboxItem, Payload, Priority, Timer,
        TimerAction, Timing,
    },
    optout,
    segmentation::count_parts,
    store::{
        change::commit_with_retries, Change, ClaimSpace, Committed, MessageRecord, Store,
        StoreError, Write,
    },
};

/// Why an MT was not accepted. Each maps to a Genesys result_code and an SMPP status.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("sender {0:?} is not allowed for this account")]
    SenderNotAllowed(String),
    #[error("invalid destination {0:?}: 7 to 15 digits, international format")]
    InvalidDestination(String),
    #[error("empty message")]
    EmptyText,
    #[error("message too long: {needed} parts, at most {max}")]
    TooLong { needed: usize, max: u8 },
    #[error("message cannot be encoded: {0}")]
    Unencodable(String),
    #[error("unknown carrier {0:?}")]
    UnknownCarrier(String),
    #[error("no route to {0:?}")]
    NoRoute(String),
    #[error("invalid send_at / schedule_delivery_time: {0}")]
    InvalidSchedule(String),
    #[error("invalid validity / validity_period: {0}")]
    InvalidValidity(String),
    #[error("destination {0:?} opted out of messages from this account")]
    OptedOut(String),
    #[error("throughput limit of the account reached")]
    Throttled,
    #[error("message_id {client_id:?} was used before with a different message")]
    Conflict { client_id: String, first: MessageId },
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
}

/// An MT as an interface hands it over, before validation.
#[derive(Debug, Clone)]
pub struct MtRequest {
    pub client_message_id: Option<String>,
    pub source: String,
    pub destination: String,
    pub payload: Payload,
    pub priority: Priority,
    pub receipt: bool,
    pub app_id: Option<String>,
    pub conversation_id: Option<String>,
    pub carrier: Option<String>,
    pub interface: Interface,
    /// The client is answered with its own `client_message_id`, not our id (see
    /// [`Mt::answered_with_client_id`]).
    pub answered_with_client_id: bool,
    /// As the client asked, resolved to points in time by the edge; checked by
    /// [`checked_timing`].
    pub timing: Timing,
}

/// An accepted MT: new, or the replay of an earlier request with the same client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    New(MessageId),
    Replayed(MessageId),
}

impl Accepted {
    pub fn id(&self) -> &MessageId {
        match self {
            Accepted::New(id) | Accepted::Replayed(id) => id,
        }
    }
}

/// The MT intake of the gateway. See the module documentation.
pub struct Ingest {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    ids: IdGenerator,
    auth: Authenticator,
    throughput: Throughput,
}

impl Ingest {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>) -> Self {
        let model_hash = config.accounts().first().map(|a| a.password_hash.as_str());
        Self {
            ids: IdGenerator::new(&config.site, &config.node_id),
            auth: Authenticator::new(&config.auth, model_hash),
            throughput: Throughput::new(store.clone()),
            config,
            store,
        }
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Login checks: lockout, bounded verifier, cache (see [`crate::auth`]).
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// The account of an HTTP login from `client`, if the password is right.
    pub async fn authenticate_http(
        &self,
        client: IpAddr,
        login: &str,
        password: &str,
    ) -> Result<&Account, IngestError> {
        let account = self.config.account_by_http_login(login);
        let attempt = Attempt {
            interface: Interface::Http.as_str(),
            client,
            login,
            password,
        };
        Ok(self.auth.check(account, attempt).await?)
    }

    /// The account of an SMPP system_id bound from `client`, if the password is right.
    pub async fn authenticate_smpp(
        &self,
        client: IpAddr,
        system_id: &str,
        password: &str,
    ) -> Result<&Account, IngestError> {
        let account = self.config.account_by_system_id(system_id);
        let attempt = Attempt {
            interface: Interface::Smpp.as_str(),
            client,
            login: system_id,
            password,
        };
        Ok(self.auth.check(account, attempt).await?)
    }

    /// Validates, routes and durably stores an MT of `account`.
    pub async fn submit(
        &self,
        account: &Account,
        request: MtRequest,
    ) -> Result<Accepted, IngestError> {
        self.submit_checked(account, request, true).await
    }

    /// An opt-out auto-reply (see [`crate::optout`]): like [`Self::submit`], but sent even to
    /// the number that just opted out (the reply to its STOP).
    pub async fn submit_auto_reply(
        &self,
        account: &Account,
        request: MtRequest,
    ) -> Result<Accepted, IngestError> {
        self.submit_checked(account, request, false).await
    }

    async fn submit_checked(
        &self,
        account: &Account,
        request: MtRequest,
        check_opt_out: bool,
    ) -> Result<Accepted, IngestError> {
        // Taken only when the event log keeps refusals of this account.
        let refusal = self
            .store
            .events()
            .current()
            .may_keep(EventKind::Refused, &account.system_id)
            .then(|| refusal_event(account, &request));
        let outcome = self.accept(account, request, check_opt_out).await;
        if let (Err(refused), Some(event)) = (&outcome, refusal) {
            if !matches!(refused, IngestError::Store(_)) {
                self.record_refusal(event, refused).await;
            }
        }
        outcome
    }

    /// Records why an MT was refused. A refusal stores nothing else, so its event is written
    /// on its own before the client is answered; a store failing then loses only the event.
    async fn record_refusal(&self, event: Event, refused: &IngestError) {
        let event = event.with_reason(refused.code(), &refused.to_string());
        if let Err(err) = self.store.commit(Change::of_events(vec![event])).await {
            metrics::counter!("events_unrecorded_total").increment(1);
            tracing::warn!(%err, "recording a refusal's event failed");
        }
    }

    async fn accept(
        &self,
        account: &Account,
        request: MtRequest,
        check_opt_out: bool,
    ) -> Result<Accepted, IngestError> {
        let Some(destination) = destination_digits(&request.destination).map(str::to_owned) else {
            return Err(IngestError::InvalidDestination(request.destination));
        };
        if !account.sender_allowed(&request.source) {
            return Err(IngestError::SenderNotAllowed(request.source));
        }
        if matches!(&request.payload, Payload::Text(text) if text.is_empty()) {
            return Err(IngestError::EmptyText);
        }
        let parts = match count_parts(&request.payload, account.max_segments) {
            Ok(parts) => parts,
            Err(SegmentError::TooManySegments { needed, max }) => {
                return Err(IngestError::TooLong { needed, max })
            }
            Err(err) => return Err(IngestError::Unencodable(err.to_string())),
        };
        let accepted_at_ms = now_ms();
        let mut timing = checked_timing(request.timing, account.validity, accepted_at_ms)?;
        timing.dr_timeout_ms = account.dr_timeout.map(|wait| wait.as_millis() as u64);
        if check_opt_out
            && optout::refuses(&*self.store, account, &request.source, &destination).await?
        {
            return Err(IngestError::OptedOut(destination));
        }
        let connectors = self
            .config
            .route(&account.system_id, &destination, request.carrier.as_deref())
            .ok_or_else(|| match &request.carrier {
                Some(carrier) => IngestError::UnknownCarrier(carrier.clone()),
                None => IngestError::NoRoute(destination.clone()),
            })?
            .to_vec();
        // Named after routing: the store may tag the id with where its record goes.
        let tag = connectors
            .first()
            .and_then(|connector| self.store.id_tag(connector));
        let id = self.ids.next_tagged(tag.as_deref());
        if !self.throughput.admit(account).await {
            metrics::counter!("ingest_throttled_total", "account" => account.system_id.clone())
                .increment(1);
            return Err(IngestError::Throttled);
        }
        let idempotency = request.client_message_id.as_ref().map(|key| Idempotency {
            key: key.clone(),
            fingerprint: fingerprint(&request, &destination),
            ttl: account.idempotency_ttl,
        });
        let mt = Mt {
            id,
            account: account.system_id.clone(),
            client_message_id: request.client_message_id.clone(),
            source: request.source,
            destination,
            payload: request.payload,
            priority: request.priority,
            receipt: request.receipt,
            app_id: request.app_id,
            conversation_id: request.conversation_id,
            carrier: request.carrier,
            connectors,
            parts,
            interface: request.interface,
            answered_with_client_id: request.answered_with_client_id,
            accepted_at_ms,
            timing,
        };
        let interface = mt.interface.as_str();
        let id = mt.id.clone();
        let outcome = match accept_mt(&*self.store, &mt, idempotency.as_ref()).await? {
            Acceptance::Accepted => Accepted::New(id),
            Acceptance::Replayed(first) => Accepted::Replayed(first),
            Acceptance::Conflict(first) => {
                return Err(IngestError::Conflict {
                    client_id: request.client_message_id.unwrap_or_default(),
                    first,
                })
            }
        };
        let label = match outcome {
            Accepted::New(_) => "new",
            Accepted::Replayed(_) => "replayed",
        };
        metrics::counter!("ingest_mt_total", "account" => account.system_id.clone(), "interface" => interface, "outcome" => label).increment(1);
        Ok(outcome)
    }
}

/// The event of a refused MT, before its reason is known.
fn refusal_event(account: &Account, request: &MtRequest) -> Event {
    Event {
        client_message_id: request.client_message_id.clone(),
        interface: Some(request.interface),
        source: Some(request.source.clone()),
        destination: Some(request.destination.clone()),
        ..Event::new(EventKind::Refused, &account.system_id)
    }
}

impl IngestError {
    /// A stable name for the reason, for the event log and reports.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Auth(_) => "auth",
            IngestError::SenderNotAllowed(_) => "sender_not_allowed",
            IngestError::InvalidDestination(_) => "invalid_destination",
            IngestError::EmptyText => "empty_text",
            IngestError::TooLong { .. } => "too_long",
            IngestError::Unencodable(_) => "unencodable",
            IngestError::UnknownCarrier(_) => "unknown_carrier",
            IngestError::NoRoute(_) => "no_route",
            IngestError::InvalidSchedule(_) => "invalid_schedule",
            IngestError::InvalidValidity(_) => "invalid_validity",
            IngestError::OptedOut(_) => "opted_out",
            IngestError::Throttled => "throttled",
            IngestError::Conflict { .. } => "conflict",
            IngestError::Store(_) => "store",
        }
    }
}

/// How far ahead an MT may be scheduled: campaigns are planned weeks ahead, not years.
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(366 * 86_400);

/// The times of an MT accepted at `now_ms`: a `send_at` already past is "at once"; without a
/// validity of its own the account's `default_validity` runs from when it may be sent.
pub fn checked_timing(
    asked: Timing,
    default_validity: Option<Duration>,
    now_ms: u64,
) -> Result<Timing, IngestError> {
    let send_at_ms = asked.send_at_ms.filter(|at| *at > now_ms);
    if send_at_ms.is_some_and(|at| at - now_ms > MAX_SCHEDULE_AHEAD.as_millis() as u64) {
        return Err(IngestError::InvalidSchedule(format!(
            "more than {} days ahead",
            MAX_SCHEDULE_AHEAD.as_secs() / 86_400
        )));
    }
    let starts_ms = send_at_ms.unwrap_or(now_ms);
    let valid_until_ms = asked.valid_until_ms.or_else(|| {
        default_validity.map(|validity| starts_ms.saturating_add(validity.as_millis() as u64))
    });
    match valid_until_ms {
        Some(until) if until <= now_ms => Err(IngestError::InvalidValidity(
            "already ended when the message arrived".into(),
        )),
        Some(until) if until <= starts_ms => Err(IngestError::InvalidValidity(
            "ends before the message is scheduled to be sent".into(),
        )),
        _ => Ok(Timing {
            send_at_ms,
            valid_until_ms,
            dr_timeout_ms: None,
        }),
    }
}

/// A client's idempotency claim: the same key for the same account yields one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    /// A digest of the request body: the same key with another body is a conflict.
    pub fingerprint: String,
    pub ttl: Duration,
}

/// What an idempotency claim holds: the first message and its request's fingerprint.
#[derive(Debug, Serialize, Deserialize)]
struct IdempotencyClaim {
    message_id: MessageId,
    fingerprint: String,
}

/// The result of [`accept_mt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// Stored and queued.
    Accepted,
    /// The key was used before with the same body: the first message's id.
    Replayed(MessageId),
    /// The key was used before with a different body.
    Conflict(MessageId),
}

/// Stores an accepted MT durably and queues it on its first connector, or holds it until its
/// `send_at` (a release timer), with a timer for the end of its validity, all in one change.
/// With an idempotency claim, the first call for (account, key) wins; later calls get
/// [`Acceptance::Replayed`] or [`Acceptance::Conflict`] and store nothing.
pub async fn accept_mt<S: Store + ?Sized>(
    store: &S,
    mt: &Mt,
    idempotency: Option<&Idempotency>,
) -> Result<Acceptance, StoreError> {
    let space = ClaimSpace::Idempotency {
        account: mt.account.clone(),
    };
    // What the claim holds; only MTs with a client id (HTTP, mostly) have one to make.
    let claim_value = idempotency
        .map(|claim| {
            serde_json::to_string(&IdempotencyClaim {
                message_id: mt.id.clone(),
                fingerprint: claim.fingerprint.clone(),
            })
            .map_err(StoreError::backend)
        })
        .transpose()?;
    commit_with_retries("accept_mt", || async {
        let mut change = Change::acknowledged();
        change.event(Event::of_mt(EventKind::Accepted, mt));
        if let (Some(claim), Some(value)) = (idempotency, &claim_value) {
            change.claim(space.clone(), &claim.key, value, claim.ttl);
        }
        let mut record = MessageRecord::accepted(mt);
        if let Some(send_at_ms) = mt.timing.send_at_ms {
            record.held = true;
            change.write(Write::Outbox(OutboxItem::Timer(Timer::new(
                TimerAction::Release(mt.id.clone()),
                send_at_ms,
            ))));
        } else {
            change.write(Write::Enqueue {
                connector: mt.connectors.first().cloned().unwrap_or_default(),
                priority: mt.priority,
                id: mt.id.clone(),
                released: false,
            });
        }
        if let Some(valid_until_ms) = mt.timing.valid_until_ms {
            change.write(Write::Outbox(OutboxItem::Timer(Timer::new(
                TimerAction::Expire(mt.id.clone()),
                valid_until_ms,
            ))));
        }
        change.put_record(record, 0);
        match store.commit(change).await? {
            Committed::Done => Ok(Some(Acceptance::Accepted)),
            Committed::Claimed => {
                let (Some(claim), Some(first)) = (
                    idempotency,
                    first_claim(store, &space, idempotency.map(|c| c.key.as_str())).await?,
                ) else {
                    // The claim expired in between: try again.
                    return Ok(None);
                };
                Ok(Some(if first.fingerprint == claim.fingerprint {
                    Acceptance::Replayed(first.message_id)
                } else {
                    Acceptance::Conflict(first.message_id)
                }))
            }
            Committed::Conflict => Err(StoreError::Backend(format!(
                "message id {} already stored",
                mt.id
            ))),
        }
    })
    .await
}

async fn first_claim<S: Store + ?Sized>(
    store: &S,
    space: &ClaimSpace,
    key: Option<&str>,
) -> Result<Option<IdempotencyClaim>, StoreError> {
    let Some(key) = key else { return Ok(None) };
    store
        .claimed(space, key)
        .await?
        .map(|value| {
            serde_json::from_str(&value).map_err(|e| StoreError::Corrupt {
                key: key.to_owned(),
                error: e.to_string(),
            })
        })
        .transpose()
}

/// The message an account's client id names, while the idempotency key is kept.
pub async fn message_by_client_id<S: Store + ?Sized>(
    store: &S,
    account: &str,
    client_id: &str,
) -> Result<Option<MessageId>, StoreError> {
    let space = ClaimSpace::Idempotency {
        account: account.to_owned(),
    };
    Ok(first_claim(store, &space, Some(client_id))
        .await?
        .map(|claim| claim.message_id))
}

/// What makes two requests "the same message" for idempotency.
fn fingerprint(request: &MtRequest, destination: &str) -> String {
    let mut hasher = Sha256::new();
    let payload = serde_json::to_vec(&request.payload).unwrap_or_default();
    for field in [
        request.source.as_bytes(),
        destination.as_bytes(),
        &payload,
        request.carrier.as_deref().unwrap_or("").as_bytes(),
        request.app_id.as_deref().unwrap_or("").as_bytes(),
        request.conversation_id.as_deref().unwrap_or("").as_bytes(),
        &[request.receipt as u8, request.priority as u8],
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_121_000_000;
    const HOUR: u64 = 3_600_000;

    fn asked(send_at_ms: Option<u64>, valid_until_ms: Option<u64>) -> Timing {
        Timing {
            send_at_ms,
            valid_until_ms,
            dr_timeout_ms: None,
        }
    }

    #[test]
    fn a_send_at_already_past_is_at_once_and_one_too_far_ahead_is_refused() {
        let timing = checked_timing(asked(Some(NOW - 1), None), None, NOW).unwrap();
        assert_eq!(timing.send_at_ms, None);
        let in_a_year = NOW + 365 * 24 * HOUR;
        let timing = checked_timing(asked(Some(in_a_year), None), None, NOW).unwrap();
        assert_eq!(timing.send_at_ms, Some(in_a_year));
        assert!(matches!(
            checked_timing(asked(Some(NOW + 367 * 24 * HOUR), None), None, NOW),
            Err(IngestError::InvalidSchedule(_))
        ));
    }

    #[test]
    fn a_validity_must_end_after_now_and_after_the_schedule() {
        assert!(matches!(
            checked_timing(asked(None, Some(NOW)), None, NOW),
            Err(IngestError::InvalidValidity(_))
        ));
        assert!(matches!(
            checked_timing(asked(Some(NOW + 2 * HOUR), Some(NOW + HOUR)), None, NOW),
            Err(IngestError::InvalidValidity(_))
        ));
        let timing = checked_timing(asked(None, Some(NOW + HOUR)), None, NOW).unwrap();
        assert_eq!(timing.valid_until_ms, Some(NOW + HOUR));
    }

    #[test]
    fn the_accounts_validity_counts_from_when_the_mt_may_be_sent() {
        let default = Some(Duration::from_secs(48 * 3600));
        let now = checked_timing(asked(None, None), default, NOW).unwrap();
        assert_eq!(now.valid_until_ms, Some(NOW + 48 * HOUR));
        let later = checked_timing(asked(Some(NOW + 72 * HOUR), None), default, NOW).unwrap();
        assert_eq!(later.valid_until_ms, Some(NOW + 120 * HOUR));
        // The MT's own validity wins.
        let own = checked_timing(asked(None, Some(NOW + HOUR)), default, NOW).unwrap();
        assert_eq!(own.valid_until_ms, Some(NOW + HOUR));
    }
}
