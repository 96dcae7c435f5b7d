//! An application bound to two (or more) smsgw sites at once with a [`BindPool`]: it submits
//! on any active bind, takes receipts and MOs from every bind, and rebinds a lost site no
//! sooner than 30 s later. Each line says which site took the message or sent the receipt.
//!
//! ```text
//! cargo run -p smsgw-smpp --example esme_failover -- 127.0.0.1:2775 127.0.0.1:3775 --count 20
//! # accepted 1 of 20: local-node1-... via 127.0.0.1:2775
//! # accepted 2 of 20: site2-node1-... via 127.0.0.1:3775
//! # receipt local-node1-... DELIVRD from 127.0.0.1:2775
//! ```
//!
//! Credentials come from `SMPP_SYSTEM_ID` / `SMPP_PASSWORD` (default `demo` / `demo1234`).
//! Kill one site while it runs: a submit in flight there fails with an error (never a silent
//! loss) and is submitted again on the other site. A submit that was sent but not answered
//! may have been taken, so resending it can give a duplicate SMS; an application that must
//! avoid that records the error instead of resending.

use std::{sync::Arc, time::Duration};

use smsgw_smpp::{
    client::DeliverStream,
    encoding::{decode_text, is_delivery_receipt, receipt_from_deliver_sm, stat_code},
    pool::{BindPool, Endpoint, PoolConfig, PoolError, Submitted},
    rusmpp::{
        pdus::SubmitSm,
        values::{EsmClass, MessageState, RegisteredDelivery},
    },
    BindKind, BindRequest, ClientConfig,
};

/// How long one message is retried before the example gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (addresses, count) = parse_args()?;
    let system_id = std::env::var("SMPP_SYSTEM_ID").unwrap_or_else(|_| "demo".into());
    let password = std::env::var("SMPP_PASSWORD").unwrap_or_else(|_| "demo1234".into());

    // One transceiver bind per site; the pool keeps each bound (rebind >= 30 s after a loss).
    let endpoints = addresses.iter().map(Endpoint::tcp).collect();
    let bind = BindRequest::new(BindKind::Transceiver, &system_id, &password);
    let (handler, mut incoming) = DeliverStream::new(1024);
    let pool = BindPool::start(
        PoolConfig::new(endpoints, ClientConfig::new(bind)),
        Arc::new(handler),
    );
    tokio::time::timeout(Duration::from_secs(10), pool.wait_for_active(1))
        .await
        .map_err(|_| format!("no site bound within 10 s: {:?}", pool.status()))?;

    // Receipts and MOs arrive on every bind; each is acknowledged once it is handled.
    let receiving = tokio::spawn(async move {
        while let Some(deliver) = incoming.recv().await {
            let site = deliver
                .session()
                .peer_addr()
                .map_or_else(|| "?".to_owned(), |a| a.to_string());
            let pdu = deliver.pdu();
            match receipt_from_deliver_sm(pdu) {
                Ok(receipt) if is_delivery_receipt(u8::from(pdu.esm_class)) => {
                    let state = receipt.stat.map_or(MessageState::Unknown, |s| s.state);
                    println!("receipt {} {} from {site}", receipt.id, stat_code(state));
                }
                _ => println!(
                    "MO from {} to {}: {} (via {site})",
                    pdu.source_addr,
                    pdu.destination_addr,
                    decode_text(u8::from(pdu.data_coding), pdu.short_message().as_ref())
                        .unwrap_or_else(|e| format!("<{e}>"))
                ),
            }
            deliver.accept();
        }
    });

    for n in 1..=count {
        let submit = SubmitSm::builder()
            .esm_class(EsmClass::from(0))
            .source_addr("12345".parse()?)
            .destination_addr("447700900001".parse()?)
            .registered_delivery(RegisteredDelivery::from(1))
            .short_message(format!("message {n}").as_bytes().try_into()?)
            .build();
        let taken = submit_until_taken(&pool, submit).await?;
        println!(
            "accepted {n} of {count}: {} via {}",
            taken.message_id, taken.endpoint
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Give the receipts a moment, then unbind every site.
    tokio::time::sleep(Duration::from_secs(2)).await;
    pool.shutdown().await;
    drop(pool);
    receiving.abort();
    Ok(())
}

/// Submits until a site answers with a message id. Retried: no bind up (wait for one), a bind
/// lost or silent with the submit in flight, a throttled site. A refusal is returned at once.
async fn submit_until_taken(pool: &BindPool, submit: SubmitSm) -> Result<Submitted, PoolError> {
    let deadline = tokio::time::Instant::now() + GIVE_UP_AFTER;
    loop {
        match pool.submit(submit.clone()).await {
            Ok(taken) => return Ok(taken),
            Err(error) if error.is_refusal() || tokio::time::Instant::now() >= deadline => {
                return Err(error)
            }
            Err(error) => {
                eprintln!("retrying: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn parse_args() -> Result<(Vec<String>, u32), String> {
    let mut addresses = Vec::new();
    let mut count = 10;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--count" {
            let value = args.next().ok_or("--count needs a number")?;
            count = value.parse().map_err(|_| format!("--count {value}"))?;
        } else {
            addresses.push(arg);
        }
    }
    if addresses.is_empty() {
        return Err("usage: esme_failover HOST:PORT [HOST:PORT ...] [--count N]".into());
    }
    Ok((addresses, count))
}
