//! `[events]` and its `[[events.sinks]]`: batching limits, each sink's target and filter.

use std::{collections::HashSet, time::Duration};

use toml::Spanned;

use super::Resolver;
use crate::{
    config::{
        event_log::{
            EventLogSettings, EventSinkConfig, SinkTarget, DEFAULT_KEEP, DEFAULT_NATS_STREAM,
            DEFAULT_NATS_SUBJECT, DEFAULT_ROTATE_BYTES,
        },
        raw::{RawEventSink, RawEvents},
        Secret,
    },
    event::{EventFilter, EventKind},
};

const SINK_KINDS: &str = "postgres, file or nats";

impl Resolver<'_, '_, '_> {
    pub(super) fn event_log(&mut self, raw: Option<&RawEvents>) -> EventLogSettings {
        let defaults = EventLogSettings::default();
        let Some(raw) = raw else {
            return defaults;
        };
        let count = |resolver: &mut Self, value, what, default: usize| {
            resolver
                .positive(value, what)
                .map_or(default, |count| count as usize)
        };
        let batch_size = count(
            self,
            raw.batch_size.as_ref(),
            "batch_size",
            defaults.batch_size,
        );
        let max_queue_size = count(
            self,
            raw.max_queue_size.as_ref(),
            "max_queue_size",
            defaults.max_queue_size,
        );
        if let (Some(queue), true) = (&raw.max_queue_size, max_queue_size < batch_size) {
            self.problems.at(
                queue.span(),
                format!(
                    "max_queue_size ({max_queue_size}) must be at least batch_size ({batch_size})"
                ),
            );
        }
        let sinks = raw
            .sinks
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(position, sink)| self.event_sink(sink, position + 1))
            .collect();
        EventLogSettings {
            batch_size,
            storing_timeout: self.duration(
                raw.storing_timeout.as_ref(),
                "storing_timeout",
                defaults.storing_timeout,
                Duration::from_millis(10),
            ),
            max_queue_size,
            sinks,
        }
    }

    fn event_sink(
        &mut self,
        sink: &Spanned<RawEventSink>,
        position: usize,
    ) -> Option<EventSinkConfig> {
        let span = sink.span();
        let raw = sink.get_ref();
        let kind = raw.kind.get_ref().as_str();
        let url = |resolver: &mut Self| {
            let url = resolver.secret(raw.url.as_ref(), raw.url_env.as_ref(), "url", span.clone());
            url.map(Secret::new)
        };
        let target = match kind {
            "postgres" => SinkTarget::Postgres { url: url(self)? },
            "file" => {
                let Some(path) = &raw.path else {
                    self.problems.at(
                        span,
                        "a file sink needs path = \"events.ndjson\"".to_owned(),
                    );
                    return None;
                };
                SinkTarget::File {
                    path: self.path(path),
                    rotate_bytes: raw
                        .rotate_bytes
                        .as_ref()
                        .map_or(DEFAULT_ROTATE_BYTES, |b| (*b.get_ref()).max(1)),
                    rotate_every: self.optional_duration(
                        raw.rotate_every.as_ref(),
                        "rotate_every",
                        Duration::from_secs(1),
                    ),
                    keep: raw
                        .keep
                        .as_ref()
                        .map_or(DEFAULT_KEEP, |k| *k.get_ref() as usize),
                }
            }
            "nats" => SinkTarget::Nats {
                url: url(self)?,
                subject: raw
                    .subject
                    .as_ref()
                    .map_or(DEFAULT_NATS_SUBJECT.to_owned(), |s| s.get_ref().clone()),
                stream: raw
                    .stream
                    .as_ref()
                    .map_or(DEFAULT_NATS_STREAM.to_owned(), |s| s.get_ref().clone()),
            },
            other => {
                self.problems.at(
                    raw.kind.span(),
                    format!("unknown sink kind \"{other}\": write {SINK_KINDS}"),
                );
                return None;
            }
        };
        Some(EventSinkConfig {
            name: format!("{kind}-{position}"),
            target,
            filter: EventFilter {
                kinds: raw.kinds.as_ref().map(|kinds| self.event_kinds(kinds)),
                accounts: raw
                    .accounts
                    .as_ref()
                    .map(|accounts| accounts.iter().map(|a| a.get_ref().clone()).collect()),
            },
        })
    }

    fn event_kinds(&mut self, kinds: &[Spanned<String>]) -> HashSet<EventKind> {
        kinds
            .iter()
            .filter_map(|name| {
                let kind = EventKind::parse(name.get_ref());
                if kind.is_none() {
                    let known: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
                    self.problems.at(
                        name.span(),
                        format!(
                            "unknown event kind \"{}\": one of {}",
                            name.get_ref(),
                            known.join(", ")
                        ),
                    );
                }
                kind
            })
            .collect()
    }
}
