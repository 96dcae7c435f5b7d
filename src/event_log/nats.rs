//! The NATS JetStream sink: each event published to `<subject>.<kind>.<account>` with its
//! event id as `Nats-Msg-Id`, so JetStream drops a batch written again within the stream's
//! duplicate window; the batch is written once every publish is acknowledged. The stream
//! (`<subject>.>`) is made if missing.

use std::time::Duration;

use async_nats::{
    header::NATS_MESSAGE_ID,
    jetstream::{self, stream},
    HeaderMap,
};
use async_trait::async_trait;
use futures_util::future::try_join_all;

use super::sink::{EventSink, SinkError};
use crate::{config::Secret, event::Event};

/// How long JetStream remembers an event id: longer than a batch takes to be retried.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// See the module documentation.
pub struct NatsSink {
    url: Secret,
    subject: String,
    stream: String,
    context: Option<jetstream::Context>,
}

impl NatsSink {
    pub fn new(url: Secret, subject: String, stream: String) -> Self {
        Self {
            url,
            subject,
            stream,
            context: None,
        }
    }

    async fn context(&mut self) -> Result<&jetstream::Context, SinkError> {
        if self.context.is_none() {
            let client = async_nats::connect(self.url.expose())
                .await
                .map_err(SinkError::from_display)?;
            let context = jetstream::new(client);
            context
                .get_or_create_stream(stream::Config {
                    name: self.stream.clone(),
                    subjects: vec![format!("{}.>", self.subject)],
                    duplicate_window: DUPLICATE_WINDOW,
                    ..Default::default()
                })
                .await
                .map_err(SinkError::from_display)?;
            self.context = Some(context);
        }
        Ok(self.context.as_ref().expect("connected above"))
    }
}

/// A subject token from an account name (no `.`, `*`, `>` or spaces).
fn token(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() => '_',
            c => c,
        })
        .collect()
}

#[async_trait]
impl EventSink for NatsSink {
    async fn write(&mut self, events: &[&Event]) -> Result<(), SinkError> {
        let subject = self.subject.clone();
        let context = self.context().await?;
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let mut headers = HeaderMap::new();
            headers.insert(NATS_MESSAGE_ID, event.event_id.as_str());
            let body = serde_json::to_vec(event).map_err(SinkError::from_display)?;
            let published = context
                .publish_with_headers(
                    format!(
                        "{subject}.{}.{}",
                        event.kind.as_str(),
                        token(&event.account)
                    ),
                    headers,
                    body.into(),
                )
                .await;
            match published {
                Ok(ack) => acks.push(std::future::IntoFuture::into_future(ack)),
                Err(err) => {
                    self.context = None;
                    return Err(SinkError::from_display(err));
                }
            }
        }
        if let Err(err) = try_join_all(acks).await {
            self.context = None;
            return Err(SinkError::from_display(err));
        }
        Ok(())
    }
}
