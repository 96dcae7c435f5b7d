//! Which shard commits a [`Change`]: every key it touches must be in one shard's stream, so
//! the change is one atomic batch there. What names a connector decides (a queue entry, a
//! carrier-id slot, a record by its current connector, an MO or a multipart MO's part set by
//! the connector it came on),
//! then an MT this node holds (the shard it was taken from); claims and client receipts go
//! with the rest of their change. A change naming two shards is refused: the flows never
//! build one, and committing half of it would break its all-or-nothing promise.

use super::placement::Placement;
use crate::{
    message::{MessageId, OutboxItem},
    store::{Change, Guard, StoreError, Write},
};

/// Where a change goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Shard(usize),
    /// Only a record's version names it: the shard where that record is now.
    WhereRecordIs(MessageId),
}

/// The shard of `change`; `holder` tells which shard an MT this node holds was taken from.
pub fn route(
    change: &Change,
    placement: &Placement,
    holder: impl Fn(&MessageId) -> Option<usize>,
) -> Result<Route, StoreError> {
    let mut decided: Option<(usize, String)> = None;
    let mut decide = |shard: usize, why: String| match &decided {
        Some((first, first_why)) if *first != shard => Err(StoreError::Backend(format!(
            "a change may not span shards: {first_why} is in shard {first}, {why} in shard \
             {shard}"
        ))),
        Some(_) => Ok(()),
        None => {
            decided = Some((shard, why));
            Ok(())
        }
    };
    let connector = |name: &str| (placement.of_connector(name), format!("connector {name:?}"));
    for write in &change.writes {
        let (shard, why) = match write {
            Write::Record(record) => match &record.connector {
                Some(name) => connector(name),
                None => match placement.of_id(record.mt.id.as_str()) {
                    Some(shard) => (shard, format!("message {}", record.mt.id)),
                    None => continue,
                },
            },
            Write::MapCarrierId { key, .. } | Write::Park { key, .. } | Write::Unpark(key) => {
                connector(&key.connector)
            }
            Write::Outbox(OutboxItem::Mo(mo)) => connector(&mo.connector),
            Write::Outbox(
                OutboxItem::Receipt(_) | OutboxItem::Timer(_) | OutboxItem::Events { .. },
            ) => continue,
            Write::Enqueue {
                connector: name, ..
            } => connector(name),
            Write::EndLease(id) => match holder(id) {
                Some(shard) => (shard, format!("held message {id}")),
                None => continue,
            },
            Write::PartSet { key, .. } | Write::RemovePartSet(key) => connector(&key.connector),
        };
        decide(shard, why)?;
    }
    for guard in &change.guards {
        let named = match guard {
            Guard::Unmapped(key) | Guard::ParkedCount { key, .. } => &key.connector,
            Guard::PartSetVersion { key, .. } => &key.connector,
            _ => continue,
        };
        let (shard, why) = connector(named);
        decide(shard, why)?;
    }
    if let Some((shard, _)) = decided {
        return Ok(Route::Shard(shard));
    }
    let record = change.guards.iter().find_map(|guard| match guard {
        Guard::RecordVersion { id, .. } => Some(id.clone()),
        _ => None,
    });
    if let Some(id) = record {
        return Ok(Route::WhereRecordIs(id));
    }
    // Claims alone (no flow makes such a change; the contract suite does): by their key.
    let claim = change.guards.iter().find_map(|guard| match guard {
        Guard::Claim(claim) => Some(claim.key.as_str()),
        _ => None,
    });
    Ok(Route::Shard(claim.map_or(0, |key| placement.of_key(key))))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        message::{IdGenerator, MessageState, Mo, Priority},
        store::{CarrierKey, ClaimSpace, MessageRecord},
    };

    fn placement() -> Placement {
        let pins = [("a", 0), ("b", 1), ("c", 2)];
        Placement::new(3, pins.map(|(c, s)| (c.to_owned(), s)).into()).unwrap()
    }

    fn record(connector: &str) -> MessageRecord {
        let mut record =
            super::super::queue::tests::record(Some(connector), MessageState::Accepted);
        let tag = placement().id_tag(connector);
        record.mt.id = IdGenerator::new("x", "n").next_tagged(tag.as_deref());
        record
    }

    fn nobody_holds(_: &MessageId) -> Option<usize> {
        None
    }

    #[test]
    fn an_accept_goes_to_its_first_connectors_shard_with_its_claim() {
        let record = record("b");
        let mut change = Change::acknowledged();
        let space = ClaimSpace::Idempotency {
            account: "acme".into(),
        };
        change
            .claim(space, "key", "v", Duration::from_secs(1))
            .write(Write::Enqueue {
                connector: "b".into(),
                priority: Priority::Bulk,
                id: record.mt.id.clone(),
                released: false,
            })
            .put_record(record, 0);
        assert_eq!(
            route(&change, &placement(), nobody_holds).unwrap(),
            Route::Shard(1)
        );
    }

    #[test]
    fn a_change_over_two_shards_is_refused() {
        let record = record("a");
        let mut change = Change::default();
        change
            .write(Write::Park {
                key: CarrierKey {
                    connector: "c".into(),
                    carrier_id: "1".into(),
                },
                receipt: crate::message::CarrierReceipt {
                    carrier_id: "1".into(),
                    state: MessageState::Delivered,
                    error: String::new(),
                    at_ms: 0,
                },
            })
            .put_record(record, 3);
        let refused = route(&change, &placement(), nobody_holds).unwrap_err();
        assert!(refused.to_string().contains("span shards"), "{refused}");
    }

    #[test]
    fn held_mts_mos_versions_and_lone_claims_have_their_shard() {
        let id = MessageId("m".into());
        let mut ended = Change::default();
        ended.write(Write::EndLease(id.clone()));
        assert_eq!(
            route(&ended, &placement(), |_| Some(2)).unwrap(),
            Route::Shard(2)
        );
        let mut mo = Change::default();
        mo.claim(ClaimSpace::MoDedupe, "k", "", Duration::from_secs(1))
            .write(Write::Outbox(OutboxItem::Mo(Mo {
                id: "mo".into(),
                account: "acme".into(),
                source: "1".into(),
                destination: "2".into(),
                text: "hi".into(),
                connector: "c".into(),
                received_at_ms: 0,
                segments: None,
            })));
        assert_eq!(
            route(&mo, &placement(), nobody_holds).unwrap(),
            Route::Shard(2)
        );
        // A multipart MO's set goes with its connector, guarded or removed alone.
        let key = crate::store::PartSetKey {
            connector: "b".into(),
            source: "1".into(),
            destination: "2".into(),
            reference: 7,
            total: 3,
        };
        let mut held = Change::default();
        held.claim(ClaimSpace::MoDedupe, "k", "", Duration::from_secs(1))
            .guard(Guard::PartSetVersion {
                key: key.clone(),
                version: 4,
            });
        assert_eq!(
            route(&held, &placement(), nobody_holds).unwrap(),
            Route::Shard(1)
        );
        let mut removed = Change::default();
        removed.remove_part_set(key, 4);
        assert_eq!(
            route(&removed, &placement(), nobody_holds).unwrap(),
            Route::Shard(1)
        );
        let mut version = Change::default();
        version.guard(Guard::RecordVersion {
            id: id.clone(),
            version: 4,
        });
        assert_eq!(
            route(&version, &placement(), nobody_holds).unwrap(),
            Route::WhereRecordIs(id)
        );
        let mut claim = Change::default();
        claim.claim(ClaimSpace::MoDedupe, "k-1", "", Duration::from_secs(1));
        assert_eq!(
            route(&claim, &placement(), nobody_holds).unwrap(),
            Route::Shard(placement().of_key("k-1"))
        );
    }
}
