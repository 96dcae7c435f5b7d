//! `smsgw send` over HTTP through a `FailoverClient` over every `--url` and `--host` address:
//! the Genesys form without `--wait`, the JSON API and a status poll with it. Each answer is
//! printed with the endpoint that gave it.

use std::time::Duration;

use anyhow::Context;
use smsgw_http::{
    api::{IdempotencyKey, SubmitBody, MESSAGES_PATH},
    failover::{Endpoint, Refusal},
    receiver::PATH as RECEIVER_PATH,
    Credentials, FailoverClient, FailoverConfig, FailoverError, MessageState, MessageStatus,
    ReceiverRequest,
};

use super::{fresh_message_id, http_priority, Outcome, SendArgs};

/// How often `--wait` asks for the message's state.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

pub(super) async fn send(args: &SendArgs, config: FailoverConfig) -> anyhow::Result<Outcome> {
    let client = FailoverClient::new(config).context("setting up the HTTP client")?;
    let message_id = args.message_id.clone().unwrap_or_else(fresh_message_id);
    let credentials = Credentials {
        login: args.system_id.clone(),
        password: args.password.clone(),
    };
    let outcome = if args.wait {
        let key = IdempotencyKey::parse(&message_id)
            .with_context(|| format!("--message-id {message_id:?}"))?;
        send_json_and_wait(args, &client, &credentials, &key).await
    } else {
        send_genesys_form(args, &client, credentials, &message_id).await
    };
    match outcome {
        Err(FailoverError::Refused(refusal)) => {
            print_refusal(&refusal);
            Ok(Outcome::Failed)
        }
        other => Ok(other?),
    }
}

/// `path` on `endpoint`, with the address dialled when it came from a hostname.
fn via(endpoint: &Endpoint, path: &str) -> String {
    match endpoint.address() {
        Some(address) => format!("{} ({address})", endpoint.url(path)),
        None => endpoint.url(path).to_string(),
    }
}

fn print_refusal(refusal: &Refusal) {
    let code = refusal
        .result_code
        .map(|c| c.to_string())
        .unwrap_or_default();
    println!(
        "refused by {}: HTTP {} result_code={code} description={}",
        refusal.endpoint, refusal.status, refusal.description
    );
}

/// `POST /httpapi/receiver` with the Genesys form; no receipt requested.
async fn send_genesys_form(
    args: &SendArgs,
    client: &FailoverClient,
    credentials: Credentials,
    message_id: &str,
) -> Result<Outcome, FailoverError> {
    let request = ReceiverRequest {
        credentials,
        phone_number: args.to.clone(),
        sender: args.from.clone(),
        carrier: None,
        message: args.text.clone(),
        message_id: message_id.to_owned(),
        receipt: false,
        app_id: None,
        conversation_id: None,
        priority: http_priority(args.priority),
        send_at: None,
        validity: None,
    };
    let taken = client.send_genesys(&request).await?;
    println!(
        "accepted {} via {}",
        taken.answer.message_id,
        via(&taken.endpoint, RECEIVER_PATH)
    );
    Ok(Outcome::Success)
}

/// `POST /v1/messages` with a receipt requested, then the state polled to a final one.
async fn send_json_and_wait(
    args: &SendArgs,
    client: &FailoverClient,
    credentials: &Credentials,
    key: &IdempotencyKey,
) -> Result<Outcome, FailoverError> {
    let body = SubmitBody {
        to: args.to.clone(),
        from: args.from.clone(),
        text: args.text.clone(),
        carrier: None,
        receipt: true,
        priority: http_priority(args.priority),
        app_id: None,
        conversation_id: None,
        client_message_id: None,
        send_at: None,
        validity: None,
    };
    let taken = client.submit_json(credentials, key, &body).await?;
    let accepted = taken.answer;
    println!(
        "accepted {} via {} ({} part(s), Idempotency-Key {})",
        accepted.id,
        via(&taken.endpoint, MESSAGES_PATH),
        accepted.parts,
        key.as_str()
    );
    let timeout = Duration::from_secs(args.timeout_s);
    match poll_final_state(client, credentials, &accepted.id, timeout).await? {
        Some(status) => Ok(print_final_state(&status)),
        None => {
            println!(
                "timeout: no final state within {} s for {}",
                args.timeout_s, accepted.id
            );
            Ok(Outcome::Failed)
        }
    }
}

/// Polls the message's status until a final state; `None` when `timeout` passes first.
async fn poll_final_state(
    client: &FailoverClient,
    credentials: &Credentials,
    id: &str,
    timeout: Duration,
) -> Result<Option<MessageStatus>, FailoverError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let status = client.status(credentials, id).await?.answer;
        if status.state.is_final() {
            return Ok(Some(status));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Ok(None)
}

fn print_final_state(status: &MessageStatus) -> Outcome {
    let code = status
        .history
        .iter()
        .rev()
        .find(|event| event.state == status.state)
        .and_then(|event| event.code)
        .unwrap_or(0);
    let state = serde_json::to_value(status.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    println!("receipt {} {state} err:{code:03}", status.id);
    if status.state == MessageState::Delivered {
        Outcome::Success
    } else {
        Outcome::NotDelivered
    }
}
