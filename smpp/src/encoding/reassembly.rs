//! Collecting the parts of inbound multipart messages (MO `deliver_sm`, client `submit_sm`)
//! into whole messages.
//!
//! A set is keyed by the caller's key (e.g. source and destination address), the reference and
//! the total, so a reference reused with a different total (references wrap after 256) starts
//! a new set rather than corrupting an old one. Memory is bounded: at most `max_pending` sets,
//! each at most 255 parts; when full the oldest set is evicted and counted.

use std::{collections::HashMap, hash::Hash, time::Duration};

use rusmpp::{
    pdus::{DeliverSm, SubmitSm},
    tlvs::{Tlv, TlvValue},
};
use tokio::time::Instant;

use super::udh::{parse_udh, sar_segment, SegmentInfo, UdhError, ESM_CLASS_UDHI};

/// One received PDU's user data, with its place in a multipart message if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundPart {
    pub data_coding: u8,
    /// From the concatenation UDH, else from the SAR TLVs.
    pub segment: Option<SegmentInfo>,
    /// User data without the UDH.
    pub payload: Vec<u8>,
}

impl InboundPart {
    /// Builds a part from the raw fields of a `deliver_sm` or `submit_sm`.
    ///
    /// The body is `message_payload` when present, else `short_message`. With UDHI set the
    /// UDH is stripped; a concatenation element in it wins over SAR values.
    pub fn parse(
        esm_class: u8,
        data_coding: u8,
        short_message: &[u8],
        message_payload: Option<&[u8]>,
        sar: Option<SegmentInfo>,
    ) -> Result<Self, UdhError> {
        let body = message_payload.unwrap_or(short_message);
        let (udh_segment, payload) = if esm_class & ESM_CLASS_UDHI != 0 {
            let parsed = parse_udh(body)?;
            (parsed.segment, parsed.payload)
        } else {
            (None, body)
        };
        Ok(Self {
            data_coding,
            segment: udh_segment.or(sar),
            payload: payload.to_vec(),
        })
    }

    /// The part carried by a `deliver_sm` (an MO, or a receipt split by the carrier).
    pub fn from_deliver_sm(sm: &DeliverSm) -> Result<Self, UdhError> {
        let tlvs = BodyTlvs::read(sm.tlvs())?;
        Self::parse(
            sm.esm_class.into(),
            sm.data_coding.into(),
            sm.short_message().as_ref(),
            tlvs.message_payload,
            tlvs.sar,
        )
    }

    /// The part carried by a client's `submit_sm`.
    pub fn from_submit_sm(sm: &SubmitSm) -> Result<Self, UdhError> {
        let tlvs = BodyTlvs::read(sm.tlvs())?;
        Self::parse(
            sm.esm_class.into(),
            sm.data_coding.into(),
            sm.short_message().as_ref(),
            tlvs.message_payload,
            tlvs.sar,
        )
    }
}

/// The TLVs that shape a message body.
struct BodyTlvs<'a> {
    message_payload: Option<&'a [u8]>,
    sar: Option<SegmentInfo>,
}

impl<'a> BodyTlvs<'a> {
    fn read(tlvs: &'a [Tlv]) -> Result<Self, UdhError> {
        let (mut payload, mut reference, mut total, mut seq) = (None, None, None, None);
        for value in tlvs.iter().filter_map(Tlv::value) {
            match value {
                TlvValue::MessagePayload(p) => payload = Some(p.value.as_ref()),
                TlvValue::SarMsgRefNum(n) => reference = Some(*n),
                TlvValue::SarTotalSegments(n) => total = Some(*n),
                TlvValue::SarSegmentSeqnum(n) => seq = Some(*n),
                _ => {}
            }
        }
        Ok(Self {
            message_payload: payload,
            sar: sar_segment(reference, total, seq)?,
        })
    }
}

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyConfig {
    /// An incomplete set older than this (from its first part) is dropped by `expire`.
    pub timeout: Duration,
    /// Most sets held at once; adding one more evicts the oldest.
    pub max_pending: usize,
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMessage {
    pub data_coding: u8,
    /// The parts' user data concatenated in order, without UDHs.
    pub payload: Vec<u8>,
    pub parts: u8,
}

/// What happened to a pushed part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    /// The message is whole (a part that was not segmented completes at once).
    Complete(CompleteMessage),
    /// Waiting for more parts.
    Pending { received: u8, total: u8 },
    /// This part number was already held; the first copy is kept.
    Duplicate,
}

/// A part that cannot join its set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassemblyError {
    #[error("part has data_coding 0x{got:02X} but its set has 0x{expected:02X}")]
    InconsistentDataCoding { expected: u8, got: u8 },
    #[error("part {seq} of {total} is not a valid position")]
    BadPosition { seq: u8, total: u8 },
}

/// A set dropped before completion, by timeout or eviction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete<K> {
    pub key: K,
    pub reference: u16,
    pub total: u8,
    pub received: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SetKey<K> {
    key: K,
    reference: u16,
    total: u8,
}

#[derive(Debug)]
struct PendingSet {
    data_coding: u8,
    parts: Vec<Option<Vec<u8>>>,
    received: u8,
    first_seen: Instant,
    /// Arrival order, to find the oldest set even when two share an instant.
    order: u64,
}

/// Collects the parts of multipart messages. See the module documentation.
#[derive(Debug)]
pub struct Reassembler<K> {
    config: ReassemblyConfig,
    pending: HashMap<SetKey<K>, PendingSet>,
    next_order: u64,
    evicted: u64,
}

impl<K: Eq + Hash + Clone> Reassembler<K> {
    /// A `max_pending` of 0 is taken as 1: the set being filled must be held somewhere.
    pub fn new(config: ReassemblyConfig) -> Self {
        Self {
            config: ReassemblyConfig {
                max_pending: config.max_pending.max(1),
                ..config
            },
            pending: HashMap::new(),
            next_order: 0,
            evicted: 0,
        }
    }

    /// Adds a part received at `now` for the sender/recipient identified by `key`.
    pub fn push(
        &mut self,
        key: K,
        part: InboundPart,
        now: Instant,
    ) -> Result<Pushed, ReassemblyError> {
        let Some(segment) = part.segment.filter(|s| s.total > 1) else {
            return Ok(Pushed::Complete(CompleteMessage {
                data_coding: part.data_coding,
                payload: part.payload,
                parts: 1,
            }));
        };
        // SegmentInfo's fields are public, so a hand-built one may not have been checked.
        if segment.seq == 0 || segment.seq > segment.total {
            return Err(ReassemblyError::BadPosition {
                seq: segment.seq,
                total: segment.total,
            });
        }
        let set_key = SetKey {
            key,
            reference: segment.reference,
            total: segment.total,
        };
        if !self.pending.contains_key(&set_key) {
            self.make_room();
        }
        let order = self.next_order;
        self.next_order = self.next_order.wrapping_add(1);
        let set = self
            .pending
            .entry(set_key.clone())
            .or_insert_with(|| PendingSet {
                data_coding: part.data_coding,
                parts: vec![None; usize::from(segment.total)],
                received: 0,
                first_seen: now,
                order,
            });
        if set.data_coding != part.data_coding {
            return Err(ReassemblyError::InconsistentDataCoding {
                expected: set.data_coding,
                got: part.data_coding,
            });
        }
        let index = usize::from(segment.seq).saturating_sub(1);
        let Some(slot) = set.parts.get_mut(index) else {
            // Unreachable after the position check; answered rather than panicking.
            return Ok(Pushed::Duplicate);
        };
        if slot.is_some() {
            return Ok(Pushed::Duplicate);
        }
        *slot = Some(part.payload);
        set.received += 1;
        if set.received < segment.total {
            return Ok(Pushed::Pending {
                received: set.received,
                total: segment.total,
            });
        }
        let set = self.pending.remove(&set_key);
        let (data_coding, parts) = set.map(|s| (s.data_coding, s.parts)).unwrap_or_default();
        Ok(Pushed::Complete(CompleteMessage {
            data_coding,
            payload: parts.into_iter().flatten().flatten().collect(),
            parts: segment.total,
        }))
    }

    /// Drops and returns the sets whose first part arrived `timeout` or more before `now`.
    pub fn expire(&mut self, now: Instant) -> Vec<Incomplete<K>> {
        let timeout = self.config.timeout;
        let stale: Vec<SetKey<K>> = self
            .pending
            .iter()
            .filter(|(_, set)| now.saturating_duration_since(set.first_seen) >= timeout)
            .map(|(key, _)| key.clone())
            .collect();
        stale
            .into_iter()
            .filter_map(|key| {
                let set = self.pending.remove(&key)?;
                Some(Incomplete {
                    key: key.key,
                    reference: key.reference,
                    total: key.total,
                    received: set.received,
                })
            })
            .collect()
    }

    /// Sets currently waiting for parts.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Sets evicted so far because `max_pending` was reached.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Evicts the oldest sets until one more fits. Linear in the number held, which is bounded.
    fn make_room(&mut self) {
        while !self.pending.is_empty() && self.pending.len() >= self.config.max_pending {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, set)| set.order)
                .map(|(key, _)| key.clone());
            if let Some(key) = oldest {
                self.pending.remove(&key);
                self.evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rusmpp::{
        tlvs::MessageDeliveryRequestTlvValue,
        types::OctetString,
        values::{DataCoding, EsmClass},
    };

    use super::*;

    const CONFIG: ReassemblyConfig = ReassemblyConfig {
        timeout: Duration::from_secs(60),
        max_pending: 2,
    };

    fn udh_part(reference: u8, total: u8, seq: u8, text: &str) -> InboundPart {
        let mut sm = vec![0x05, 0x00, 0x03, reference, total, seq];
        sm.extend_from_slice(text.as_bytes());
        InboundPart::parse(0x40, 0, &sm, None, None).unwrap()
    }

    fn complete(pushed: Pushed) -> Vec<u8> {
        match pushed {
            Pushed::Complete(m) => m.payload,
            other => panic!("expected a complete message, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn out_of_order_parts_complete_in_order() {
        let mut r = Reassembler::new(CONFIG);
        let now = Instant::now();
        assert_eq!(
            r.push("a", udh_part(7, 3, 3, "!"), now),
            Ok(Pushed::Pending {
                received: 1,
                total: 3
            })
        );
        r.push("a", udh_part(7, 3, 1, "Hello"), now).unwrap();
        assert_eq!(
            complete(r.push("a", udh_part(7, 3, 2, ", world"), now).unwrap()),
            b"Hello, world!"
        );
        assert_eq!(r.pending_len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn duplicates_are_tolerated() {
        let mut r = Reassembler::new(CONFIG);
        let now = Instant::now();
        r.push("a", udh_part(1, 2, 1, "ab"), now).unwrap();
        assert_eq!(
            r.push("a", udh_part(1, 2, 1, "XX"), now),
            Ok(Pushed::Duplicate)
        );
        assert_eq!(
            complete(r.push("a", udh_part(1, 2, 2, "cd"), now).unwrap()),
            b"abcd"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn keys_references_and_totals_separate_sets() {
        let mut r = Reassembler::new(ReassemblyConfig {
            max_pending: 10,
            ..CONFIG
        });
        let now = Instant::now();
        r.push("a", udh_part(1, 2, 1, "a1"), now).unwrap();
        r.push("b", udh_part(1, 2, 1, "b1"), now).unwrap();
        r.push("a", udh_part(2, 2, 1, "r2"), now).unwrap();
        // Same reference, different total: a different message, not a corruption of "a"/1/2.
        r.push("a", udh_part(1, 3, 1, "t3"), now).unwrap();
        assert_eq!(r.pending_len(), 4);
        assert_eq!(
            complete(r.push("b", udh_part(1, 2, 2, "b2"), now).unwrap()),
            b"b1b2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn inconsistent_parts_are_rejected() {
        let mut r = Reassembler::new(CONFIG);
        let now = Instant::now();
        r.push("a", udh_part(1, 2, 1, "ab"), now).unwrap();
        let mut ucs2 = udh_part(1, 2, 2, "cd");
        ucs2.data_coding = 8;
        assert_eq!(
            r.push("a", ucs2, now),
            Err(ReassemblyError::InconsistentDataCoding {
                expected: 0,
                got: 8
            })
        );
        // A part claiming to be 3 of 2 never reaches the reassembler.
        let sm = [0x05, 0x00, 0x03, 1, 2, 3];
        assert!(InboundPart::parse(0x40, 0, &sm, None, None).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn incomplete_sets_expire_with_the_clock() {
        let mut r = Reassembler::new(CONFIG);
        r.push("a", udh_part(9, 2, 1, "x"), Instant::now()).unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(r.expire(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            r.expire(Instant::now()),
            [Incomplete {
                key: "a",
                reference: 9,
                total: 2,
                received: 1
            }]
        );
        assert_eq!(r.pending_len(), 0);
        // The late part starts a new set instead of completing the expired one.
        assert_eq!(
            r.push("a", udh_part(9, 2, 2, "y"), Instant::now()),
            Ok(Pushed::Pending {
                received: 1,
                total: 2
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn oldest_set_is_evicted_and_counted() {
        let mut r = Reassembler::new(CONFIG);
        let now = Instant::now();
        r.push("a", udh_part(1, 2, 1, "a"), now).unwrap();
        r.push("b", udh_part(1, 2, 1, "b"), now).unwrap();
        r.push("c", udh_part(1, 2, 1, "c"), now).unwrap();
        assert_eq!(r.pending_len(), 2);
        assert_eq!(r.evicted(), 1);
        // "a" was evicted, so its second part starts over.
        assert_eq!(
            r.push("a", udh_part(1, 2, 2, "a"), now),
            Ok(Pushed::Pending {
                received: 1,
                total: 2
            })
        );
        assert_eq!(r.evicted(), 2);
        assert_eq!(
            complete(r.push("c", udh_part(1, 2, 2, "C"), now).unwrap()),
            b"cC"
        );
    }

    #[test]
    fn unsegmented_part_completes_at_once() {
        let mut r = Reassembler::new(CONFIG);
        let part = InboundPart::parse(0, 3, b"hi", None, None).unwrap();
        assert_eq!(
            r.push((), part, Instant::now()),
            Ok(Pushed::Complete(CompleteMessage {
                data_coding: 3,
                payload: b"hi".to_vec(),
                parts: 1
            }))
        );
    }

    #[test]
    fn parts_from_deliver_sm_with_sar_and_udh() {
        let sar = DeliverSm::builder()
            .data_coding(DataCoding::Ucs2)
            .short_message(OctetString::from_static_slice(&[0, 0x61]).unwrap())
            .push_tlv(MessageDeliveryRequestTlvValue::SarMsgRefNum(300))
            .push_tlv(MessageDeliveryRequestTlvValue::SarTotalSegments(2))
            .push_tlv(MessageDeliveryRequestTlvValue::SarSegmentSeqnum(1))
            .build();
        let part = InboundPart::from_deliver_sm(&sar).unwrap();
        assert_eq!(
            part.segment,
            Some(SegmentInfo {
                reference: 300,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(
            (part.data_coding, part.payload.as_slice()),
            (8, &[0, 0x61][..])
        );

        let udh16 = DeliverSm::builder()
            .esm_class(EsmClass::from(0x40))
            .short_message(
                OctetString::from_static_slice(&[0x06, 0x08, 0x04, 0x01, 0x02, 0x02, 0x02, b'z'])
                    .unwrap(),
            )
            .build();
        let part = InboundPart::from_deliver_sm(&udh16).unwrap();
        assert_eq!(
            part.segment,
            Some(SegmentInfo {
                reference: 0x0102,
                total: 2,
                seq: 2
            })
        );
        assert_eq!(part.payload, b"z");

        let half_sar = SubmitSm::builder()
            .push_tlv(rusmpp::tlvs::MessageSubmissionRequestTlvValue::SarMsgRefNum(1))
            .build();
        assert_eq!(
            InboundPart::from_submit_sm(&half_sar),
            Err(UdhError::IncompleteSar)
        );
    }
}
