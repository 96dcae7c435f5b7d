//! The primitives of cluster-wide limits: a window's tokens never pass its limit however many
//! take at once, and a key's places are held by at most `max` claims until released or their
//! lease runs out.

use std::{sync::Arc, time::Duration};

use smsgw::store::{Store, TokenWindow};

/// `key`'s counter of `window`, at most 20.
fn counter(key: &str, window: u64) -> TokenWindow<'_> {
    TokenWindow {
        key,
        window,
        limit: 20,
        ttl: Duration::from_secs(30),
    }
}

pub async fn tokens_never_pass_the_limit_of_a_window_even_taken_at_once(store: Arc<dyn Store>) {
    let takers = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut taken = 0;
            loop {
                match store.take_tokens(&counter("acme", 100), 3).await.unwrap() {
                    0 => return taken,
                    granted => {
                        assert!(granted <= 3, "granted {granted} of 3 asked");
                        taken += granted;
                    }
                }
            }
        })
    });
    let mut total = 0;
    for taker in takers.collect::<Vec<_>>() {
        total += taker.await.unwrap();
    }
    assert_eq!(total, 20, "the window's limit, exactly");
    assert_eq!(
        store.take_tokens(&counter("acme", 100), 1).await.unwrap(),
        0
    );
    // Never more than remains, another key and the next window on their own.
    assert_eq!(
        store.take_tokens(&counter("other", 100), 15).await.unwrap(),
        15
    );
    assert_eq!(
        store.take_tokens(&counter("other", 100), 15).await.unwrap(),
        5
    );
    assert_eq!(
        store.take_tokens(&counter("acme", 101), 50).await.unwrap(),
        20
    );
}

pub async fn places_are_held_by_at_most_max_claims_until_released_or_expired(
    store: Arc<dyn Store>,
) {
    let long = Duration::from_secs(60);
    let claims = (0..3).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_slot("binds:acme", 2, long).await.unwrap() })
    });
    let mut held = Vec::new();
    for claim in claims.collect::<Vec<_>>() {
        held.extend(claim.await.unwrap());
    }
    assert_eq!(held.len(), 2, "two of three concurrent claims");
    assert!(store
        .claim_slot("binds:acme", 2, long)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .claim_slot("binds:other", 2, long)
        .await
        .unwrap()
        .is_some());
    assert!(store.renew_slot(&mut held[0], long).await.unwrap());
    store.release_slot(&held[1]).await.unwrap();
    let again = store.claim_slot("binds:acme", 2, long).await.unwrap();
    assert!(again.is_some(), "a released place is free");
    assert!(store
        .claim_slot("binds:acme", 2, long)
        .await
        .unwrap()
        .is_none());

    // A claim nobody renews frees its place once its lease runs out, and is lost for good.
    let short = Duration::from_secs(1);
    let mut lapsed = store
        .claim_slot("binds:gone", 1, short)
        .await
        .unwrap()
        .unwrap();
    assert!(store
        .claim_slot("binds:gone", 1, long)
        .await
        .unwrap()
        .is_none());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let taken_over = loop {
        if let Some(claim) = store.claim_slot("binds:gone", 1, long).await.unwrap() {
            break claim;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease never ran out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!store.renew_slot(&mut lapsed, long).await.unwrap(), "lost");
    store.release_slot(&lapsed).await.unwrap();
    assert!(
        store
            .claim_slot("binds:gone", 1, long)
            .await
            .unwrap()
            .is_none(),
        "releasing a lost claim leaves the new holder's place alone"
    );
    drop(taken_over);
}
