//! Sending to smsgw across sites with [`FailoverClient`]: every message goes to the first base
//! URL that takes it; a site that fails is retried for the window (30 s by default, here 5 s)
//! before the next one is tried, always with the same message_id, so a retry never sends a
//! second SMS. Each line names the site that took the message.
//!
//! ```text
//! cargo run -p smsgw-http --example failover_send -- http://127.0.0.1:8080 http://127.0.0.1:8081
//! # m-1712345678-1 taken by http://127.0.0.1:8080/ after 1 attempt(s)
//! ```
//!
//! Credentials come from `SMSGW_LOGIN` / `SMSGW_PASSWORD` (default `demo` / `demo1234`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smsgw_http::failover::EndpointSource;
use smsgw_http::{
    Credentials, FailoverClient, FailoverConfig, FailoverError, Priority, ReceiverRequest,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut endpoints = Vec::new();
    for url in std::env::args().skip(1) {
        endpoints.push(EndpointSource::BaseUrl(url.parse()?));
    }
    let mut config = FailoverConfig::new(endpoints);
    config.retry_window = Duration::from_secs(5);
    let client = FailoverClient::new(config)?;

    let credentials = Credentials {
        login: std::env::var("SMSGW_LOGIN").unwrap_or_else(|_| "demo".into()),
        password: std::env::var("SMSGW_PASSWORD").unwrap_or_else(|_| "demo1234".into()),
    };
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    for n in 1..=5 {
        let request = ReceiverRequest {
            credentials: credentials.clone(),
            phone_number: "447700900001".into(),
            sender: "DEMO".into(),
            carrier: None,
            message: format!("hello {n}"),
            // Unique per message and the same on every retry: the gateway's idempotency key.
            message_id: format!("m-{run}-{n}"),
            receipt: false,
            app_id: None,
            conversation_id: None,
            priority: Priority::Bulk,
            send_at: None,
            validity: None,
        };
        match client.send_genesys(&request).await {
            Ok(taken) => println!(
                "{} taken by {} after {} attempt(s)",
                taken.answer.message_id, taken.endpoint, taken.attempts
            ),
            // Wrong credentials, invalid number...: no other site would take it either.
            Err(FailoverError::Refused(refusal)) => println!("refused: {refusal}"),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}
