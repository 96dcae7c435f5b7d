//! The opt-out primitives: kept per account, sender and number until lifted, listed per
//! account, never mixed between accounts or senders.

use std::sync::Arc;

use smsgw::store::{OptOut, Store};

fn opt_out(number: &str, sender: &str) -> OptOut {
    OptOut {
        number: number.into(),
        sender: sender.into(),
        source: "STOP".into(),
        at_ms: 1_764_000_000_000,
    }
}

pub async fn opt_outs_hold_until_lifted_per_account_and_sender(store: Arc<dyn Store>) {
    let everyone = opt_out("447700900001", "");
    let one_sender = opt_out("447700900002", "ACME");
    assert_eq!(
        store.opt_out("acme", "", "447700900001").await.unwrap(),
        None
    );
    store.put_opt_out("acme", &everyone).await.unwrap();
    store.put_opt_out("acme", &one_sender).await.unwrap();
    // Written again (a STOP resent): still one.
    store.put_opt_out("acme", &everyone).await.unwrap();

    assert_eq!(
        store.opt_out("acme", "", "447700900001").await.unwrap(),
        Some(everyone.clone())
    );
    assert_eq!(
        store.opt_out("acme", "ACME", "447700900002").await.unwrap(),
        Some(one_sender.clone())
    );
    // Another sender, another account: not opted out.
    assert_eq!(
        store.opt_out("acme", "", "447700900002").await.unwrap(),
        None
    );
    assert_eq!(
        store.opt_out("other", "", "447700900001").await.unwrap(),
        None
    );
    let mut listed = store.opt_outs("acme").await.unwrap();
    listed.sort_by(|a, b| a.number.cmp(&b.number));
    assert_eq!(listed, vec![everyone.clone(), one_sender.clone()]);
    assert!(store.opt_outs("other").await.unwrap().is_empty());

    assert!(store
        .remove_opt_out("acme", "", "447700900001")
        .await
        .unwrap());
    assert!(!store
        .remove_opt_out("acme", "", "447700900001")
        .await
        .unwrap());
    assert_eq!(
        store.opt_out("acme", "", "447700900001").await.unwrap(),
        None
    );
    assert_eq!(store.opt_outs("acme").await.unwrap(), vec![one_sender]);
    // Recorded again after it was lifted.
    store.put_opt_out("acme", &everyone).await.unwrap();
    assert_eq!(
        store.opt_out("acme", "", "447700900001").await.unwrap(),
        Some(everyone)
    );
}
