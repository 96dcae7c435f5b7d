//! What carriers send on a connector's binds: delivery receipts, correlated through the
//! store, and MOs, routed to the account that owns the destination number. An MO is named
//! by the carrier's id when its PDU carries one, else by the PDU itself on its bind (sequence
//! number and bytes), so that `upstream::mo` drops only a resend.
//!
//! deliver_sm_resp OK goes back only after the durable write. The one error a well-formed
//! receipt or routable MO gets is the store refusing that write: then the carrier gets
//! ESME_RX_T_APPN (SMPP 3.4's temporary application error, "redeliver later"), counted in
//! `upstream_deliver_store_refused_total` and logged. A busy bind is never a reason to refuse:
//! the session reads slower instead (see `smsgw_smpp::session`).

use std::{sync::Arc, time::Duration};

use sha2::{Digest, Sha256};
use smsgw_smpp::{
    client::DeliverHandler,
    encoding::{
        decode_text, is_delivery_receipt, parse_udh, receipt_from_deliver_sm, sar_segment,
        InboundPart, ReceiptIdFormat, SegmentInfo, UdhError, ESM_CLASS_UDHI,
    },
    frame,
    rusmpp::{
        pdus::DeliverSm,
        tlvs::{Tlv, TlvValue},
        Command, CommandStatus,
    },
    SessionHandle,
};
use tracing::{debug, error, warn};

use crate::{
    message::{now_ms, state_from_code, CarrierReceipt, MessageState, Mo, MoPart},
    optout::{Keyword, MoKeywords},
    store::{PartSetKey, Store, StoreError},
    upstream::{
        mo::{carrier_mo, seen_before, MoIdentity},
        mo_parts::{
            carrier_mo_part, would_complete, PartOutcome, ReceivedPart, DEFAULT_INCOMPLETE_TIMEOUT,
        },
        receipts::{carrier_receipt, ReceiptOutcome},
    },
};

/// Finds the account an MO's destination (number or short code) belongs to.
pub type MoRouter = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The deliver_sm handler of one connector's binds.
#[derive(Clone)]
pub struct CarrierInbound {
    connector: String,
    receipt_id_format: ReceiptIdFormat,
    response_timeout: Duration,
    /// Random per process, so that the names of binds (session ids on this node) are unique
    /// across nodes and restarts in the shared store's MO dedupe claims.
    incarnation: u64,
    store: Arc<dyn Store>,
    mo_router: MoRouter,
    /// Opt-out keywords in MOs (see [`crate::optout`]); none in tests of the inbound alone.
    keywords: Option<Arc<MoKeywords>>,
    /// How long a multipart MO's set waits for its missing parts (see `upstream::mo_parts`).
    multipart_timeout: Duration,
}

impl CarrierInbound {
    pub fn new(
        connector: &str,
        receipt_id_format: ReceiptIdFormat,
        response_timeout: Duration,
        store: Arc<dyn Store>,
        mo_router: MoRouter,
    ) -> Self {
        Self {
            connector: connector.to_owned(),
            receipt_id_format,
            response_timeout,
            incarnation: fastrand::u64(..),
            store,
            mo_router,
            keywords: None,
            multipart_timeout: DEFAULT_INCOMPLETE_TIMEOUT,
        }
    }

    /// How long a multipart MO's incomplete set waits before its parts go out one by one.
    pub fn with_multipart_timeout(mut self, timeout: Duration) -> Self {
        self.multipart_timeout = timeout;
        self
    }

    /// Applies opt-out keywords of MOs and sends their auto-replies.
    pub fn with_keywords(mut self, keywords: Arc<MoKeywords>) -> Self {
        self.keywords = Some(keywords);
        self
    }

    /// The keyword of a new MO, applied (durably) before the MO is stored; a resend's was
    /// applied already.
    async fn apply_keyword(
        &self,
        identity: &MoIdentity,
        mo: &Mo,
    ) -> Result<Option<Keyword>, StoreError> {
        let Some(keywords) = &self.keywords else {
            return Ok(None);
        };
        if keywords.keyword_of(mo).is_none()
            || seen_before(
                &*self.store,
                &self.connector,
                identity,
                self.response_timeout,
            )
            .await?
        {
            return Ok(None);
        }
        keywords.apply(mo).await
    }

    /// The receipt's id as the carrier's submit_sm_resp wrote it. One the connector's format
    /// cannot read is kept as it came (parked under it, where no submission will find it)
    /// rather than read in another base, which could match another message.
    fn response_form_of(&self, receipt_id: &str) -> String {
        self.receipt_id_format
            .response_form(receipt_id)
            .unwrap_or_else(|mismatch| {
                warn!(connector = %self.connector, format = %self.receipt_id_format, %mismatch, "receipt id does not fit the connector's receipt_id_format; kept uncorrelated");
                metrics::counter!("upstream_receipt_id_format_mismatch_total", "connector" => self.connector.clone()).increment(1);
                receipt_id.to_owned()
            })
    }

    async fn on_receipt(&self, deliver: &DeliverSm) -> CommandStatus {
        let parsed = match receipt_from_deliver_sm(deliver) {
            Ok(parsed) => parsed,
            Err(err) => {
                // Refusing would make the carrier resend it forever; it is counted instead.
                warn!(connector = %self.connector, %err, "unreadable delivery receipt dropped");
                metrics::counter!("upstream_receipts_unreadable_total", "connector" => self.connector.clone()).increment(1);
                return CommandStatus::EsmeRok;
            }
        };
        let state = match &parsed.stat {
            Some(stat) => {
                if !stat.recognised {
                    warn!(connector = %self.connector, stat = %stat.raw, "unknown receipt stat, taken as UNKNOWN");
                }
                state_from_code(u8::from(stat.state))
            }
            None => MessageState::Unknown,
        };
        let receipt = CarrierReceipt {
            carrier_id: self.response_form_of(&parsed.id),
            state,
            error: parsed.err.unwrap_or_default(),
            at_ms: now_ms(),
        };
        match carrier_receipt(&*self.store, &self.connector, receipt).await {
            Ok(outcome) => {
                let label = match outcome {
                    ReceiptOutcome::Applied { .. } => "applied",
                    ReceiptOutcome::Parked => "parked",
                    ReceiptOutcome::Duplicate => "duplicate",
                };
                metrics::counter!("upstream_receipts_total", "connector" => self.connector.clone(), "outcome" => label).increment(1);
                CommandStatus::EsmeRok
            }
            Err(err) => self.store_refused("receipt", &err),
        }
    }

    async fn on_mo(
        &self,
        session: &SessionHandle,
        sequence_number: u32,
        deliver: &DeliverSm,
    ) -> CommandStatus {
        let destination = deliver.destination_addr.as_str().to_owned();
        let source = deliver.source_addr.as_str().to_owned();
        let Some(account) = (self.mo_router)(&destination) else {
            warn!(connector = %self.connector, %destination, "MO for a number no account owns");
            metrics::counter!("upstream_mo_unrouted_total", "connector" => self.connector.clone())
                .increment(1);
            return CommandStatus::EsmeRinvdstadr;
        };
        let received_at_ms = now_ms();
        let pdu_digest = pdu_digest(sequence_number, deliver);
        let identity = match carrier_mo_id(deliver) {
            Some(id) => MoIdentity::CarrierId(id),
            None => MoIdentity::Pdu {
                bind: format!("{:016x}.{}", self.incarnation, session.id()),
                sequence_number,
                pdu_digest: pdu_digest.clone(),
            },
        };
        let id = format!("mo-{received_at_ms}-{}", &pdu_digest[..16]);
        let data_coding = u8::from(deliver.data_coding);
        let body = match mo_body(deliver) {
            MoBody::Part(part) => {
                let received = ReceivedPart {
                    key: PartSetKey {
                        connector: self.connector.clone(),
                        source,
                        destination,
                        reference: part.segment.reference,
                        total: part.segment.total,
                    },
                    account,
                    data_coding,
                    sar: part.sar,
                    part: MoPart {
                        seq: part.segment.seq,
                        udh: part.udh,
                        payload: part.payload,
                        id,
                        received_at_ms,
                    },
                };
                return self.on_mo_part(&identity, &received).await;
            }
            MoBody::Whole(body) => body,
            MoBody::BadSegment { error, body } => {
                // Most gateways do the same: the handset's text still reaches the client.
                warn!(connector = %self.connector, %error, "MO part with an unusable UDH or SAR values; delivered as a single MO");
                metrics::counter!("upstream_mo_bad_segment_total", "connector" => self.connector.clone()).increment(1);
                body
            }
        };
        let text = match decode_text(data_coding, body) {
            Ok(text) => text,
            Err(err) => {
                warn!(connector = %self.connector, %err, "MO text kept as lossy UTF-8");
                String::from_utf8_lossy(body).into_owned()
            }
        };
        let mo = Mo {
            id,
            account,
            source,
            destination,
            text,
            connector: self.connector.clone(),
            received_at_ms,
            segments: None,
        };
        let keyword = match self.apply_keyword(&identity, &mo).await {
            Ok(keyword) => keyword,
            Err(err) => return self.store_refused("mo", &err),
        };
        match carrier_mo(&*self.store, &identity, self.response_timeout, mo.clone()).await {
            Ok(fresh) => {
                if fresh {
                    self.reply(keyword, mo);
                }
                let label = if fresh { "queued" } else { "duplicate" };
                metrics::counter!("upstream_mo_total", "connector" => self.connector.clone(), "outcome" => label).increment(1);
                CommandStatus::EsmeRok
            }
            Err(err) => self.store_refused("mo", &err),
        }
    }

    /// A part of a multipart MO: into its set; the whole MO's keyword is applied before the
    /// part that completes it is stored.
    async fn on_mo_part(&self, identity: &MoIdentity, received: &ReceivedPart) -> CommandStatus {
        let keyword = match self.whole_keyword(identity, received).await {
            Ok(keyword) => keyword,
            Err(err) => return self.store_refused("mo", &err),
        };
        let outcome = match carrier_mo_part(
            &*self.store,
            identity,
            self.response_timeout,
            self.multipart_timeout,
            received,
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(err) => return self.store_refused("mo", &err),
        };
        let label = match outcome {
            PartOutcome::Duplicate => "duplicate",
            PartOutcome::AlreadyHeld => "part_held",
            PartOutcome::Waiting { began, .. } => {
                if let Some(set) = began {
                    // Its timer fires `deliver_incomplete` on whichever node is alive then.
                    debug!(connector = %self.connector, reference = set.key.reference, total = set.key.total,
                        due_ms = set.started_ms + self.multipart_timeout.as_millis() as u64, "multipart MO set begun");
                }
                "part_waiting"
            }
            PartOutcome::Complete(mo) => {
                self.reply(keyword, mo);
                "queued"
            }
        };
        metrics::counter!("upstream_mo_total", "connector" => self.connector.clone(), "outcome" => label).increment(1);
        CommandStatus::EsmeRok
    }

    /// The keyword of the whole MO `received` would complete, applied (durably).
    async fn whole_keyword(
        &self,
        identity: &MoIdentity,
        received: &ReceivedPart,
    ) -> Result<Option<Keyword>, StoreError> {
        let enabled = self.keywords.as_ref();
        if !enabled.is_some_and(|keywords| keywords.enabled_for(&received.account)) {
            return Ok(None);
        }
        match would_complete(&*self.store, received).await? {
            Some(whole) => self.apply_keyword(identity, &whole).await,
            None => Ok(None),
        }
    }

    /// Sends a keyword's auto-reply (not awaited: the carrier's answer does not wait for the
    /// reply's ingest).
    fn reply(&self, keyword: Option<Keyword>, mo: Mo) {
        if let (Some(keywords), Some(keyword)) = (self.keywords.clone(), keyword) {
            tokio::spawn(async move { keywords.reply(&mo, keyword).await });
        }
    }
}

impl CarrierInbound {
    /// The answer when the store refused to write a receipt or MO: temporary, so the carrier
    /// delivers it again later.
    fn store_refused(&self, kind: &'static str, err: &dyn std::fmt::Display) -> CommandStatus {
        error!(connector = %self.connector, kind, %err, "store refused a deliver_sm; answered ESME_RX_T_APPN");
        metrics::counter!("upstream_deliver_store_refused_total", "connector" => self.connector.clone(), "kind" => kind).increment(1);
        CommandStatus::EsmeRxTAppn
    }
}

impl DeliverHandler for CarrierInbound {
    async fn on_deliver(
        &self,
        session: &SessionHandle,
        sequence_number: u32,
        deliver: DeliverSm,
    ) -> CommandStatus {
        if is_delivery_receipt(u8::from(deliver.esm_class)) {
            self.on_receipt(&deliver).await
        } else {
            self.on_mo(session, sequence_number, &deliver).await
        }
    }
}

/// A part of a multipart MO as it came.
struct SegmentedBody {
    segment: SegmentInfo,
    /// With SAR TLVs (else with a concatenation UDH).
    sar: bool,
    /// The UDH as received (none for SAR).
    udh: Vec<u8>,
    payload: Vec<u8>,
}

/// What an MO's body is.
enum MoBody<'a> {
    Part(SegmentedBody),
    /// A single MO (a "part 1 of 1" too): its user data without a UDH.
    Whole(&'a [u8]),
    /// A UDH or SAR values that cannot be used (a place 0 or past the total, a total of 0, a
    /// header longer than the message): the user data after the header when its length fits.
    BadSegment {
        error: UdhError,
        body: &'a [u8],
    },
}

/// Reads an MO's body: the text is in message_payload when the carrier sent it that way
/// (short_message then empty, as SMPP requires).
fn mo_body(deliver: &DeliverSm) -> MoBody<'_> {
    let (mut payload_tlv, mut reference, mut total, mut seq) = (None, None, None, None);
    for value in deliver.tlvs().iter().filter_map(Tlv::value) {
        match value {
            TlvValue::MessagePayload(payload) => payload_tlv = Some(payload.value.as_ref()),
            TlvValue::SarMsgRefNum(n) => reference = Some(*n),
            TlvValue::SarTotalSegments(n) => total = Some(*n),
            TlvValue::SarSegmentSeqnum(n) => seq = Some(*n),
            _ => {}
        }
    }
    let body = match payload_tlv {
        Some(payload) if deliver.short_message().as_ref().is_empty() => payload,
        _ => deliver.short_message().as_ref(),
    };
    let esm_class = u8::from(deliver.esm_class);
    let udhi = esm_class & ESM_CLASS_UDHI != 0;
    let parsed = sar_segment(reference, total, seq).and_then(|sar| {
        InboundPart::parse(esm_class, u8::from(deliver.data_coding), body, None, sar)
    });
    let part = match parsed {
        Ok(part) => part,
        Err(error) => {
            let after_header = match body.split_first() {
                Some((&udhl, rest)) if udhi && usize::from(udhl) <= rest.len() => {
                    &rest[usize::from(udhl)..]
                }
                _ => body,
            };
            return MoBody::BadSegment {
                error,
                body: after_header,
            };
        }
    };
    let without_udh = if udhi {
        &body[body.len().saturating_sub(part.payload.len())..]
    } else {
        body
    };
    match part.segment {
        Some(segment) if segment.total > 1 => {
            let from_udh = udhi && parse_udh(body).is_ok_and(|udh| udh.segment.is_some());
            let udh = if from_udh {
                body[..body.len() - without_udh.len()].to_vec()
            } else {
                Vec::new()
            };
            MoBody::Part(SegmentedBody {
                segment,
                sar: !from_udh,
                udh,
                payload: part.payload,
            })
        }
        _ => MoBody::Whole(without_udh),
    }
}

/// The carrier's own id for an MO, when its deliver_sm carries one (`receipted_message_id`).
fn carrier_mo_id(deliver: &DeliverSm) -> Option<String> {
    deliver
        .tlvs()
        .iter()
        .filter_map(Tlv::value)
        .find_map(|value| match value {
            TlvValue::ReceiptedMessageId(id) => Some(id.as_str().trim().to_owned()),
            _ => None,
        })
        .filter(|id| !id.is_empty())
}

/// A digest of the PDU as it came (sequence number and every field), hex: the same PDU
/// resent gives the same digest, any other deliver_sm another.
fn pdu_digest(sequence_number: u32, deliver: &DeliverSm) -> String {
    let command = Command::new(CommandStatus::EsmeRok, sequence_number, deliver.clone());
    hex::encode(&Sha256::digest(frame::encode_to_vec(&command))[..16])
}
