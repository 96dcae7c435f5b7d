//! `smsgw send` over SMPP: a bind pool over every `--smpp` address (all bound at once, the
//! first bind up is enough), each part submitted on an active bind and printed with the
//! address that took it; with `--wait`, this command's receipts taken from any bind.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use anyhow::Context;
use smsgw::{
    message::smpp_priority_flag,
    segmentation::{segment_text, MAX_PARTS},
};
use smsgw_smpp::{
    client::SubmitError,
    encoding::{
        apply_to_submit_sm, is_delivery_receipt, receipt_from_deliver_sm, stat_code,
        DeliveryReceipt,
    },
    pool::PoolError,
    rusmpp::{
        pdus::{DeliverSm, SubmitSm},
        values::{EsmClass, MessageState as SmppState, Npi, PriorityFlag, RegisteredDelivery, Ton},
        CommandStatus,
    },
    BindKind, BindPool, BindRequest, ClientConfig, DeliverHandler, Endpoint, PoolConfig,
    SessionHandle,
};
use tokio::sync::mpsc;
use tracing::debug;

use super::{Outcome, SendArgs};

/// Forwards the receipts of this command's own messages; refuses every other deliver_sm
/// (receipts and MOs for the account's applications) with a temporary error, so the gateway
/// keeps them for another bind instead of losing them to this command.
struct OwnReceipts {
    ids: Arc<Mutex<HashSet<String>>>,
    // Unbounded: at most one receipt per part this command sent (<= 255) can be forwarded.
    receipts: mpsc::UnboundedSender<DeliveryReceipt>,
}

impl DeliverHandler for OwnReceipts {
    async fn on_deliver(&self, _: &SessionHandle, _: u32, deliver: DeliverSm) -> CommandStatus {
        let Some(receipt) = own_receipt(&deliver, &self.ids) else {
            debug!("refusing a deliver_sm not meant for this command");
            return CommandStatus::EsmeRxTAppn;
        };
        let _ = self.receipts.send(receipt);
        CommandStatus::EsmeRok
    }
}

/// The receipt in `deliver`, if it is one for an id in `ids`.
fn own_receipt(deliver: &DeliverSm, ids: &Mutex<HashSet<String>>) -> Option<DeliveryReceipt> {
    if !is_delivery_receipt(u8::from(deliver.esm_class)) {
        return None;
    }
    let receipt = receipt_from_deliver_sm(deliver).ok()?;
    let ids = ids.lock().unwrap_or_else(|e| e.into_inner());
    ids.contains(&receipt.id).then_some(receipt)
}

pub(super) async fn send(args: &SendArgs, addrs: &[String]) -> anyhow::Result<Outcome> {
    let kind = if args.wait {
        BindKind::Transceiver
    } else {
        BindKind::Transmitter
    };
    let bind = BindRequest::new(kind, &args.system_id, &args.password);
    bind.to_pdu()
        .map_err(|field| anyhow::anyhow!("cannot bind: {field}"))?;
    let submits = submit_pdus(args)?;
    let ids = Arc::new(Mutex::new(HashSet::new()));
    let (sender, mut receipts) = mpsc::unbounded_channel();
    let handler = Arc::new(OwnReceipts {
        ids: ids.clone(),
        receipts: sender,
    });
    let endpoints = addrs.iter().map(Endpoint::tcp).collect();
    let pool = BindPool::start(PoolConfig::new(endpoints, ClientConfig::new(bind)), handler);
    let outcome = match first_bind(&pool).await {
        Ok(()) => submit_and_wait(args, &pool, submits, &ids, &mut receipts).await,
        Err(FirstBind::Refused(refusals)) => {
            for (address, status) in refusals {
                println!(
                    "refused bind of {:?} by smpp://{address}: {status:?} (check --system-id and --password)",
                    args.system_id
                );
            }
            Ok(Outcome::Failed)
        }
        Err(FirstBind::Failed(errors)) => Err(anyhow::anyhow!("binding to {errors}")),
    };
    pool.shutdown().await;
    outcome
}

/// Why no address could be bound.
enum FirstBind {
    /// Some SMSCs refused the bind itself (address, bind_resp status).
    Refused(Vec<(String, CommandStatus)>),
    /// Every connection failed: `smpp://address: error`, joined.
    Failed(String),
}

/// Waits until one bind of the pool is up, or every address has failed once (each attempt is
/// bounded by the connect and response time-outs).
async fn first_bind(pool: &BindPool) -> Result<(), FirstBind> {
    loop {
        let status = pool.status();
        if status.iter().any(|slot| slot.up) {
            return Ok(());
        }
        if status.iter().all(|slot| slot.last_error.is_some()) {
            let refused: Vec<_> = status
                .iter()
                .filter_map(|slot| Some((slot.endpoint.clone(), slot.last_refusal?)))
                .collect();
            if !refused.is_empty() {
                return Err(FirstBind::Refused(refused));
            }
            let errors: Vec<_> = status
                .iter()
                .map(|slot| {
                    let error = slot.last_error.as_deref().unwrap_or_default();
                    format!("smpp://{}: {error}", slot.endpoint)
                })
                .collect();
            return Err(FirstBind::Failed(errors.join("; ")));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn submit_and_wait(
    args: &SendArgs,
    pool: &BindPool,
    submits: Vec<SubmitSm>,
    ids: &Mutex<HashSet<String>>,
    receipts: &mut mpsc::UnboundedReceiver<DeliveryReceipt>,
) -> anyhow::Result<Outcome> {
    let total = submits.len();
    let mut pending = HashSet::new();
    for (index, submit) in submits.into_iter().enumerate() {
        let part = format!("part {}/{total}", index + 1);
        match pool.submit(submit).await {
            Ok(taken) => {
                let id = taken.message_id;
                println!("accepted {id} via smpp://{} ({part})", taken.endpoint);
                ids.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone());
                pending.insert(id);
            }
            Err(PoolError::Submit {
                endpoint,
                error: SubmitError::Rejected(status),
            }) => {
                println!("refused {part} by smpp://{endpoint}: {status:?}");
                return Ok(Outcome::Failed);
            }
            Err(err) => return Err(err).with_context(|| format!("submitting {part}")),
        }
    }
    if !args.wait {
        return Ok(Outcome::Success);
    }
    Ok(wait_for_receipts(pending, receipts, Duration::from_secs(args.timeout_s)).await)
}

/// The submit_sm PDUs of the text, in part order.
fn submit_pdus(args: &SendArgs) -> anyhow::Result<Vec<SubmitSm>> {
    let (source_ton, source_npi) = ton_npi(&args.from);
    // Explicit: rusmpp 0.4's EsmClass::default() is 0x08, not the plain 0x00.
    let base = SubmitSm::builder()
        .esm_class(EsmClass::from(0))
        .source_addr_ton(source_ton)
        .source_addr_npi(source_npi)
        .source_addr(args.from.parse().context("--from")?)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(args.to.parse().context("--to")?)
        .priority_flag(PriorityFlag::from(smpp_priority_flag(args.priority)))
        .registered_delivery(RegisteredDelivery::from(u8::from(args.wait)))
        .build();
    let parts = segment_text(&args.text, MAX_PARTS, fastrand::u8(..)).context("--text")?;
    parts
        .iter()
        .map(|part| {
            let mut submit = base.clone();
            apply_to_submit_sm(part, &mut submit).context("--text")?;
            Ok(submit)
        })
        .collect()
}

/// TON/NPI for a sender: digits are international (1/1), anything else alphanumeric (5/0).
fn ton_npi(address: &str) -> (Ton, Npi) {
    if !address.is_empty() && address.bytes().all(|b| b.is_ascii_digit()) {
        (Ton::International, Npi::Isdn)
    } else {
        (Ton::Alphanumeric, Npi::Unknown)
    }
}

/// Prints each pending id's final receipt as it arrives; the worst outcome wins.
async fn wait_for_receipts(
    mut pending: HashSet<String>,
    receipts: &mut mpsc::UnboundedReceiver<DeliveryReceipt>,
    timeout: Duration,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut outcome = Outcome::Success;
    while !pending.is_empty() {
        let Ok(Some(receipt)) = tokio::time::timeout_at(deadline, receipts.recv()).await else {
            let mut missing: Vec<_> = pending.into_iter().collect();
            missing.sort();
            println!(
                "timeout: no final receipt within {} s for {}",
                timeout.as_secs(),
                missing.join(" ")
            );
            return Outcome::Failed;
        };
        let state = receipt
            .stat
            .as_ref()
            .map_or(SmppState::Unknown, |s| s.state);
        if matches!(state, SmppState::Enroute | SmppState::Accepted) {
            debug!(id = %receipt.id, ?state, "intermediate receipt");
            continue;
        }
        if pending.remove(&receipt.id) {
            println!(
                "receipt {} {} err:{}",
                receipt.id,
                stat_code(state),
                receipt.err.as_deref().unwrap_or("000")
            );
            outcome = outcome.max(smpp_state_outcome(state));
        }
    }
    outcome
}

fn smpp_state_outcome(state: SmppState) -> Outcome {
    if state == SmppState::Delivered {
        Outcome::Success
    } else {
        Outcome::NotDelivered
    }
}
