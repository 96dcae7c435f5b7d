//! The SMSC side's registry of bound sessions per account, to deliver on any receiving bind.
//!
//! The gateway delivers a DR or MO "to account X" rather than to a connection: the registry
//! picks one of X's receiver or transceiver binds (round-robin, so traffic spreads), sends the
//! deliver_sm and reports how it went. When a bind turns out to be gone before the PDU left,
//! the next bind is tried; once a PDU may have reached the client the caller decides.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

use rusmpp::{CommandStatus, Pdu};

use crate::{
    bind::BindKind,
    session::{RequestError, SessionHandle, SessionId},
};

/// Bound sessions by account (system_id).
#[derive(Default)]
pub struct Registry {
    accounts: Mutex<HashMap<String, Vec<SessionHandle>>>,
    cursor: AtomicUsize,
}

/// A deliver request that reached a client and got a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub session: SessionId,
    /// The deliver_sm_resp (or generic_nack) status: the client may refuse a message.
    pub status: CommandStatus,
}

/// Why a deliver request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverError {
    /// No receiver or transceiver bind of the account is up: nothing was sent.
    #[error("no receiver or transceiver bind of account {0:?} is up")]
    NoReceiver(String),
    /// Sent on a bind, then no response (timeout or closed): the client may have it.
    #[error("deliver on session {session} failed: {error}")]
    Request {
        session: SessionId,
        error: RequestError,
    },
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("accounts", &self.accounts())
            .finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(&self, system_id: &str, session: SessionHandle) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts
            .entry(system_id.to_owned())
            .or_default()
            .push(session);
    }

    pub(crate) fn remove(&self, system_id: &str, session: SessionId) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sessions) = accounts.get_mut(system_id) {
            sessions.retain(|s| s.id() != session);
            if sessions.is_empty() {
                accounts.remove(system_id);
            }
        }
    }

    /// Every bound session of an account.
    pub fn sessions(&self, system_id: &str) -> Vec<SessionHandle> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        accounts.get(system_id).cloned().unwrap_or_default()
    }

    /// The account's sessions that can take deliver_sm (receiver or transceiver, still bound).
    pub fn receivers(&self, system_id: &str) -> Vec<SessionHandle> {
        self.sessions(system_id)
            .into_iter()
            .filter(|s| s.bind_kind().is_some_and(BindKind::can_receive))
            .collect()
    }

    /// Accounts with at least one bound session, and how many.
    pub fn accounts(&self) -> Vec<(String, usize)> {
        let accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = accounts.iter().map(|(k, v)| (k.clone(), v.len())).collect();
        list.sort();
        list
    }

    /// Sends `pdu` (deliver_sm or data_sm) on one receiving bind of the account.
    pub async fn deliver(
        &self,
        system_id: &str,
        pdu: impl Into<Pdu>,
    ) -> Result<Delivered, DeliverError> {
        self.deliver_in_order(system_id, vec![pdu.into()]).await
    }

    /// Sends `pdus` one after the other on ONE receiving bind of the account (the parts of a
    /// concatenated message, which a client joins per bind), each after the previous one's
    /// response. Stops at the first response that is not OK and reports it; OK when all were.
    /// A bind that is gone before the first PDU left is passed over for the next one.
    pub async fn deliver_in_order(
        &self,
        system_id: &str,
        pdus: Vec<Pdu>,
    ) -> Result<Delivered, DeliverError> {
        let receivers = self.receivers(system_id);
        if receivers.is_empty() {
            return Err(DeliverError::NoReceiver(system_id.to_owned()));
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        'binds: for offset in 0..receivers.len() {
            let session = &receivers[(start + offset) % receivers.len()];
            let mut delivered = Delivered {
                session: session.id(),
                status: CommandStatus::EsmeRok,
            };
            for (index, pdu) in pdus.iter().enumerate() {
                match session.request(pdu.clone()).await {
                    Ok(response) if response.status() == CommandStatus::EsmeRok => {}
                    Ok(response) => {
                        delivered.status = response.status();
                        return Ok(delivered);
                    }
                    Err(error) if index == 0 && error.never_sent() => continue 'binds,
                    Err(error) => {
                        return Err(DeliverError::Request {
                            session: session.id(),
                            error,
                        })
                    }
                }
            }
            return Ok(delivered);
        }
        Err(DeliverError::NoReceiver(system_id.to_owned()))
    }
}
