//! Glue between the HTTP edge (`smsgw-http`) and the gateway: the Genesys receiver and the
//! JSON API submit through [`Ingest`], status reads the store (by our id or the account's own
//! client id), /readyz checks the store and the carrier binds.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use smsgw_http::{
    api::{
        ApiError, IdempotencyKey, MessageApi, MessageStatus, StatusEvent, SubmitAccepted,
        SubmitRequest,
    },
    ClientAddr, Credentials, Readiness, ReceiverError, ReceiverHandler, ReceiverRequest,
    SubmitField, SubmitRefusal,
};

use crate::{
    auth::{AuthError, BUSY_RETRY_AFTER},
    config::Account,
    ingest::{message_by_client_id, Ingest, IngestError, MtRequest},
    message::{now_ms, Interface, MessageId, MessageState, Payload, Timing},
    store::MessageRecord,
    upstream::Connector,
};

/// Implements every handler trait of the HTTP edge.
pub struct GatewayHttp {
    pub ingest: Arc<Ingest>,
    pub connectors: Vec<Arc<Connector>>,
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// How long a throttled client should wait: the limit refills within a second.
const THROTTLE_RETRY: Duration = Duration::from_secs(1);

/// The one mapping from [`IngestError`] to what both HTTP APIs refuse; each API's error type
/// words it for its own wire.
fn refusal(error: IngestError) -> SubmitRefusal {
    let invalid = |field, why: &str| SubmitRefusal::Invalid {
        field,
        why: why.to_owned(),
    };
    match error {
        // A locked-out login gets the answer of a wrong password (Genesys result_code 2, HTTP
        // 401): clients treat it as a credentials problem and stop, instead of retrying into
        // the lock as a 429 would invite; and an attacker learns nothing from the code.
        IngestError::Auth(AuthError::Rejected | AuthError::Locked(_)) => SubmitRefusal::Auth,
        IngestError::Auth(AuthError::Busy) => SubmitRefusal::Busy {
            retry_after: BUSY_RETRY_AFTER,
        },
        IngestError::SenderNotAllowed(_) => {
            invalid(SubmitField::Sender, "not allowed for this account")
        }
        IngestError::InvalidDestination(_) => invalid(
            SubmitField::Destination,
            "digits only, international, at most 15",
        ),
        IngestError::EmptyText => invalid(SubmitField::Text, "empty"),
        IngestError::InvalidSchedule(why) => invalid(SubmitField::SendAt, &why),
        IngestError::InvalidValidity(why) => invalid(SubmitField::Validity, &why),
        IngestError::Unencodable(why) => invalid(SubmitField::Text, &why),
        IngestError::TooLong { needed, max } => SubmitRefusal::TooLong {
            segments: needed,
            max: usize::from(max),
        },
        IngestError::UnknownCarrier(carrier) => SubmitRefusal::UnknownCarrier(carrier),
        IngestError::NoRoute(_) => SubmitRefusal::UnknownCarrier(String::new()),
        IngestError::Throttled => SubmitRefusal::Throttled {
            retry_after: THROTTLE_RETRY,
        },
        IngestError::Conflict { .. } => SubmitRefusal::Conflict,
        IngestError::OptedOut(destination) => SubmitRefusal::OptedOut(destination),
        IngestError::Store(err) => {
            tracing::error!(%err, "MT not stored");
            SubmitRefusal::Internal
        }
    }
}

/// An HTTP client's `send_at` and `validity` (seconds from now) as points in time.
fn requested_timing(send_at: Option<SystemTime>, validity: Option<Duration>) -> Timing {
    let ms = |at: SystemTime| {
        at.duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64)
    };
    Timing {
        send_at_ms: send_at.map(ms),
        valid_until_ms: validity
            .map(|validity| now_ms().saturating_add(validity.as_millis() as u64)),
        dr_timeout_ms: None,
    }
}

fn receiver_error(error: IngestError) -> ReceiverError {
    refusal(error).into()
}

pub(super) fn api_error(error: IngestError) -> ApiError {
    refusal(error).into()
}

impl GatewayHttp {
    pub(super) async fn account(
        &self,
        client: ClientAddr,
        credentials: &Credentials,
    ) -> Result<&Account, IngestError> {
        self.ingest
            .authenticate_http(client.0.ip(), &credentials.login, &credentials.password)
            .await
    }

    async fn record(&self, id: &MessageId) -> Option<MessageRecord> {
        self.ingest.store().message(id).await.ok().flatten()
    }

    /// The account's message that `id` names: our id, else the account's own client id
    /// (Genesys message_id, client_message_id or Idempotency-Key) while its idempotency key
    /// is kept. Another account's id, ours or theirs, names nothing.
    async fn account_message(&self, account: &Account, id: &str) -> Option<MessageRecord> {
        let own = |record: &MessageRecord| record.mt.account == account.system_id;
        if let Some(record) = self.record(&MessageId(id.to_owned())).await.filter(own) {
            return Some(record);
        }
        let ours = message_by_client_id(&**self.ingest.store(), &account.system_id, id)
            .await
            .ok()
            .flatten()?;
        self.record(&ours).await.filter(own)
    }
}

impl ReceiverHandler for GatewayHttp {
    async fn submit(
        &self,
        client: ClientAddr,
        request: ReceiverRequest,
    ) -> Result<(), ReceiverError> {
        let account = self
            .account(client, &request.credentials)
            .await
            .map_err(receiver_error)?;
        let mt = MtRequest {
            client_message_id: Some(request.message_id),
            source: request.sender,
            destination: request.phone_number,
            payload: Payload::Text(request.message),
            priority: request.priority,
            receipt: request.receipt,
            app_id: request.app_id,
            conversation_id: request.conversation_id,
            carrier: request.carrier,
            interface: Interface::Http,
            // The receiver answers with the client's message_id, never ours.
            answered_with_client_id: true,
            timing: requested_timing(request.send_at, request.validity),
        };
        self.ingest
            .submit(account, mt)
            .await
            .map(|_| ())
            .map_err(receiver_error)
    }
}

impl MessageApi for GatewayHttp {
    async fn submit(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        idempotency_key: Option<IdempotencyKey>,
        request: SubmitRequest,
    ) -> Result<SubmitAccepted, ApiError> {
        let account = self
            .account(client, &credentials)
            .await
            .map_err(api_error)?;
        let client_message_id = idempotency_key
            .map(|key| key.as_str().to_owned())
            .or(request.client_message_id);
        let mt = MtRequest {
            client_message_id,
            source: request.from,
            destination: request.to,
            payload: Payload::Text(request.text),
            priority: request.priority,
            receipt: request.receipt,
            app_id: request.app_id,
            conversation_id: request.conversation_id,
            carrier: request.carrier,
            interface: Interface::Http,
            answered_with_client_id: false,
            timing: requested_timing(request.send_at, request.validity),
        };
        let accepted = self.ingest.submit(account, mt).await.map_err(api_error)?;
        let record = self.record(accepted.id()).await;
        Ok(SubmitAccepted {
            id: accepted.id().to_string(),
            state: record.as_ref().map_or(MessageState::Accepted, |r| r.state),
            parts: record.map_or(1, |r| u32::from(r.mt.parts)),
        })
    }

    async fn status(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        id: String,
    ) -> Result<MessageStatus, ApiError> {
        let account = self
            .account(client, &credentials)
            .await
            .map_err(api_error)?;
        let record = self
            .account_message(account, &id)
            .await
            .ok_or_else(ApiError::not_found)?;
        Ok(MessageStatus {
            id: record.mt.id.to_string(),
            state: record.state,
            to: record.mt.destination.clone(),
            from: record.mt.source.clone(),
            created_at: at(record.mt.accepted_at_ms),
            parts: u32::from(record.mt.parts),
            history: record
                .history
                .iter()
                .map(|entry| StatusEvent {
                    state: entry.state,
                    code: u32::from_str_radix(&entry.error, 16).ok(),
                    at: at(entry.at_ms),
                })
                .collect(),
        })
    }
}

impl Readiness for GatewayHttp {
    async fn check(&self) -> Result<(), String> {
        self.ingest
            .store()
            .check_writable()
            .await
            .map_err(|err| format!("store not writable: {err}"))?;
        let down: Vec<&str> = self
            .connectors
            .iter()
            .filter(|c| c.binds_up() == 0)
            .map(|c| c.name())
            .collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("no bind up on connector(s): {}", down.join(", ")))
        }
    }
}
