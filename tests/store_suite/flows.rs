//! The gateway's flows (`ingest::accept_mt`, `upstream::receipts`, `upstream::mo`, `lifecycle`)
//! as methods on any store, so the contract reads as the gateway uses a store: each flow runs
//! once per backend through that backend's primitives.

use std::time::Duration;

use smsgw::{
    ingest::{self, Acceptance, Idempotency},
    lifecycle::{self, LifecycleError, MtStatus, NewBody},
    message::{CarrierReceipt, MessageId, Mo, Mt},
    store::{Store, StoreError},
    upstream::{
        mo::{self, MoIdentity},
        receipts,
        receipts::ReceiptOutcome,
    },
};

#[async_trait::async_trait]
pub trait Flows {
    async fn accept_mt(
        &self,
        mt: Mt,
        idempotency: Option<Idempotency>,
    ) -> Result<Acceptance, StoreError>;
    async fn message_by_client_id(
        &self,
        account: &str,
        client_id: &str,
    ) -> Result<Option<MessageId>, StoreError>;
    async fn mt_submitted(
        &self,
        id: &MessageId,
        connector: &str,
        carrier_ids: Vec<String>,
    ) -> Result<(), StoreError>;
    async fn mt_rejected(&self, id: &MessageId, error: String) -> Result<(), StoreError>;
    async fn carrier_receipt(
        &self,
        connector: &str,
        receipt: CarrierReceipt,
    ) -> Result<ReceiptOutcome, StoreError>;
    async fn carrier_mo(
        &self,
        identity: &MoIdentity,
        response_timeout: Duration,
        mo: Mo,
    ) -> Result<bool, StoreError>;
    async fn query_mt(&self, account: &str, id: &MessageId) -> Result<MtStatus, LifecycleError>;
    async fn cancel_mt(&self, account: &str, id: &MessageId) -> Result<(), LifecycleError>;
    async fn replace_mt(
        &self,
        account: &str,
        id: &MessageId,
        body: NewBody,
    ) -> Result<(), LifecycleError>;
}

#[async_trait::async_trait]
impl<S: Store + ?Sized> Flows for S {
    async fn accept_mt(
        &self,
        mt: Mt,
        idempotency: Option<Idempotency>,
    ) -> Result<Acceptance, StoreError> {
        ingest::accept_mt(self, &mt, idempotency.as_ref()).await
    }

    async fn message_by_client_id(
        &self,
        account: &str,
        client_id: &str,
    ) -> Result<Option<MessageId>, StoreError> {
        ingest::message_by_client_id(self, account, client_id).await
    }

    async fn mt_submitted(
        &self,
        id: &MessageId,
        connector: &str,
        carrier_ids: Vec<String>,
    ) -> Result<(), StoreError> {
        receipts::mt_submitted(self, id, connector, carrier_ids, None).await
    }

    async fn mt_rejected(&self, id: &MessageId, error: String) -> Result<(), StoreError> {
        receipts::mt_rejected(self, id, error).await
    }

    async fn carrier_receipt(
        &self,
        connector: &str,
        receipt: CarrierReceipt,
    ) -> Result<ReceiptOutcome, StoreError> {
        receipts::carrier_receipt(self, connector, receipt).await
    }

    async fn carrier_mo(
        &self,
        identity: &MoIdentity,
        response_timeout: Duration,
        mo: Mo,
    ) -> Result<bool, StoreError> {
        mo::carrier_mo(self, identity, response_timeout, mo).await
    }

    async fn query_mt(&self, account: &str, id: &MessageId) -> Result<MtStatus, LifecycleError> {
        lifecycle::query_mt(self, account, id).await
    }

    async fn cancel_mt(&self, account: &str, id: &MessageId) -> Result<(), LifecycleError> {
        lifecycle::cancel_mt(self, account, id).await
    }

    async fn replace_mt(
        &self,
        account: &str,
        id: &MessageId,
        body: NewBody,
    ) -> Result<(), LifecycleError> {
        lifecycle::replace_mt(self, account, id, body).await
    }
}
