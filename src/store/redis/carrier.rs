//! What carriers send us, in the Redis store: receipts (deduped, correlated or parked) and
//! MOs (deduped, to the outbox).

use std::time::Duration;

use smsgw_smpp::encoding::normalize_message_id;

use super::{
    decode, encode, scripts::StepResult, too_much_contention, RedisStore, Step, MAX_ATTEMPTS,
};
use crate::{
    message::{CarrierReceipt, Mo, OutboxItem},
    store::{
        receipts::{self, CarrierIdRecord},
        MessageRecord, ReceiptOutcome, StoreError,
    },
};

/// How long receipt dedupe claims are kept.
const RECEIPT_DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);

impl RedisStore {
    /// The mapping of a (normalised) carrier id, with the message record it names and that
    /// record's version.
    async fn receipt_target(
        &self,
        connector: &str,
        normalized: &str,
    ) -> Result<Option<(CarrierIdRecord, MessageRecord, String)>, StoreError> {
        let found: Vec<String> = self
            .scripts
            .find_receipt_target
            .prepare_invoke()
            .key(self.keys.carrier_id(connector, normalized))
            .arg(self.keys.message_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        let [mapping, record, version] = <[String; 3]>::try_from(found).unwrap_or_default();
        if mapping.is_empty() {
            return Ok(None);
        }
        let mapping: CarrierIdRecord = decode(connector, &mapping)?;
        let key = self.keys.message(mapping.message_id.as_str());
        if record.is_empty() {
            return Err(StoreError::Corrupt {
                key,
                error: "message record missing".into(),
            });
        }
        let record = decode(&key, &record)?;
        Ok(Some((mapping, record, version)))
    }

    pub(super) async fn receipt(
        &self,
        connector: &str,
        receipt: CarrierReceipt,
    ) -> Result<ReceiptOutcome, StoreError> {
        let normalized = normalize_message_id(&receipt.carrier_id);
        let dedupe = self.keys.dedupe(
            "dr",
            &format!(
                "{connector}\u{1f}{normalized}\u{1f}{}",
                receipt.state.code()
            ),
        );
        for _ in 0..MAX_ATTEMPTS {
            let mut step = Step::default();
            self.claim_with_ttl(
                &mut step,
                &dedupe,
                &self.keys.dedupe_expiry(),
                RECEIPT_DEDUPE_TTL,
            );
            let outcome = match self.receipt_target(connector, &normalized).await? {
                Some((found, mut record, version)) => {
                    let finished = receipts::apply_receipt(&mut record, found.part, &receipt);
                    let final_state = finished.as_ref().map(|f| f.state);
                    if let Some(client_receipt) = finished.and_then(|f| f.receipt) {
                        self.append_outbox(&mut step, OutboxItem::Receipt(client_receipt));
                    }
                    self.put_record(&mut step, &record, &version);
                    ReceiptOutcome::Applied {
                        id: found.message_id,
                        final_state,
                    }
                }
                None => {
                    // Parked only while no mapping exists: a submit recorded meanwhile makes
                    // this a conflict, and the next attempt applies the receipt.
                    step.absent(&self.keys.carrier_id(connector, &normalized));
                    let parked_key = self.keys.parked(connector, &normalized);
                    step.rpush(&parked_key, &encode(&receipt)).zadd_greater(
                        &self.keys.parked_newest(),
                        receipt.at_ms,
                        &parked_key,
                    );
                    ReceiptOutcome::Parked
                }
            };
            match self.run(step).await? {
                StepResult::Committed => return Ok(outcome),
                StepResult::Claimed => return Ok(ReceiptOutcome::Duplicate),
                StepResult::Conflict => continue,
            }
        }
        Err(too_much_contention("carrier_receipt"))
    }

    pub(super) async fn mo(
        &self,
        dedupe_key: &str,
        mo: Mo,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut step = Step::default();
        let dedupe = self.keys.dedupe("mo", dedupe_key);
        self.claim_with_ttl(&mut step, &dedupe, &self.keys.dedupe_expiry(), ttl);
        self.append_outbox(&mut step, OutboxItem::Mo(mo));
        match self.run(step).await? {
            StepResult::Committed => Ok(true),
            StepResult::Claimed => Ok(false),
            StepResult::Conflict => Err(StoreError::Backend(
                "carrier_mo: unexpected conflict".into(),
            )),
        }
    }
}
