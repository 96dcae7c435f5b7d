//! The send loop: retry one endpoint for the window, then the next; stick to the endpoint
//! that worked; go back to the preferred one after a healthy probe.

use reqwest::header::RETRY_AFTER;
use tokio::time::Instant;

use super::answer::{classify, transport_failure, Answer};
use super::client::{Delivery, Inner};
use super::outbound::Outbound;
use super::{Endpoint, FailoverError, Refusal};
use crate::push::backoff;

impl Inner {
    /// Sends `outbound` until an endpoint takes it, one refuses it for good, or every endpoint
    /// has had its window. `accept` reads a 2xx body.
    pub(crate) async fn deliver<T>(
        &self,
        outbound: &Outbound,
        accept: fn(&str) -> Option<T>,
    ) -> Result<Delivery<T>, FailoverError> {
        let endpoints = self.endpoints().await?;
        let start = self.first_to_try(&endpoints).await;
        let mut tried = Vec::new();
        let mut last_error = String::new();
        let mut attempts = 0u32;
        for offset in 0..endpoints.len() {
            let endpoint = &endpoints[(start + offset) % endpoints.len()];
            tried.push(endpoint.clone());
            let http = self.http_for(endpoint)?;
            let window_ends = Instant::now() + self.config.retry_window;
            let mut failures = 0u32;
            loop {
                attempts += 1;
                match self.attempt(&http, endpoint, outbound, accept).await {
                    Answer::Accepted(answer) => {
                        self.stick_to(endpoint, &endpoints[0]);
                        tracing::debug!(key = %outbound.key, %endpoint, attempts, "message taken");
                        return Ok(Delivery {
                            endpoint: endpoint.clone(),
                            answer,
                            attempts,
                        });
                    }
                    Answer::Refused {
                        status,
                        result_code,
                        description,
                    } => {
                        tracing::warn!(key = %outbound.key, %endpoint, status, ?result_code,
                            %description, "message refused");
                        return Err(FailoverError::Refused(Box::new(Refusal {
                            endpoint: endpoint.clone(),
                            status,
                            result_code,
                            description,
                        })));
                    }
                    Answer::Retry { after, reason } => {
                        last_error = format!("{endpoint}: {reason}");
                        let now = Instant::now();
                        if now >= window_ends {
                            tracing::warn!(key = %outbound.key, %endpoint, %reason,
                                "retry window over; trying the next endpoint");
                            break;
                        }
                        // A Retry-After is waited in full; our own backoff never overruns
                        // the window, so the switch happens right when it ends.
                        let delay = backoff(failures, after);
                        let delay = match after {
                            Some(_) => delay,
                            None => delay.min(window_ends - now),
                        };
                        tracing::debug!(key = %outbound.key, %endpoint, %reason, ?delay, "retrying");
                        tokio::time::sleep(delay).await;
                        failures = failures.saturating_add(1);
                    }
                }
            }
        }
        Err(FailoverError::Unavailable { tried, last_error })
    }

    async fn attempt<T>(
        &self,
        http: &reqwest::Client,
        endpoint: &Endpoint,
        outbound: &Outbound,
        accept: fn(&str) -> Option<T>,
    ) -> Answer<T> {
        let request = outbound.build(http, endpoint.url(outbound.path()));
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return transport_failure(&error),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        match response.text().await {
            Ok(body) => classify(outbound.api, status, retry_after.as_deref(), &body, accept),
            Err(error) => transport_failure(&error),
        }
    }

    /// The index of the endpoint to try first: the current one (or the first of its base URL
    /// when its address left the DNS answer), or the preferred one after a healthy probe.
    async fn first_to_try(&self, endpoints: &[Endpoint]) -> usize {
        let (current, left_preferred_at) = {
            let state = self.stickiness.lock().unwrap_or_else(|e| e.into_inner());
            (state.current.clone(), state.left_preferred_at)
        };
        let Some(current) = current else {
            return 0;
        };
        let index = endpoints
            .iter()
            .position(|e| *e == current)
            .or_else(|| endpoints.iter().position(|e| e.base() == current.base()))
            .unwrap_or(0);
        let (Some(cool_down), Some(left_at)) =
            (self.config.return_to_preferred_after, left_preferred_at)
        else {
            return index;
        };
        if index == 0 || left_at.elapsed() < cool_down {
            return index;
        }
        let preferred = &endpoints[0];
        if self.healthy(preferred).await {
            tracing::info!(%preferred, "preferred endpoint healthy again; going back to it");
            let mut state = self.stickiness.lock().unwrap_or_else(|e| e.into_inner());
            state.current = Some(preferred.clone());
            state.left_preferred_at = None;
            0
        } else {
            tracing::debug!(%preferred, "preferred endpoint still unhealthy");
            let mut state = self.stickiness.lock().unwrap_or_else(|e| e.into_inner());
            state.left_preferred_at = Some(Instant::now());
            index
        }
    }

    /// `GET /healthz` answers 2xx within the probe time-out.
    async fn healthy(&self, endpoint: &Endpoint) -> bool {
        let Ok(http) = self.http_for(endpoint) else {
            return false;
        };
        let probe = http
            .get(endpoint.url("/healthz"))
            .timeout(self.config.probe_timeout)
            .send();
        matches!(probe.await, Ok(response) if response.status().is_success())
    }

    fn stick_to(&self, endpoint: &Endpoint, preferred: &Endpoint) {
        let mut state = self.stickiness.lock().unwrap_or_else(|e| e.into_inner());
        if state.current.as_ref() != Some(endpoint) {
            tracing::info!(%endpoint, "sending through this endpoint from now on");
        }
        state.current = Some(endpoint.clone());
        if endpoint == preferred {
            state.left_preferred_at = None;
        } else if state.left_preferred_at.is_none() {
            state.left_preferred_at = Some(Instant::now());
        }
    }
}
