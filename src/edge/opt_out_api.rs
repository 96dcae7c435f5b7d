//! Glue between the opt-out JSON API (`smsgw_http::opt_outs`) and the store: the
//! authenticated account's opt-outs are listed, added and removed, keyed as the MO flow keys
//! them (see [`crate::optout`]: a sender only in `sender` scope).

use std::time::{Duration, UNIX_EPOCH};

use smsgw_http::{
    api::ApiError, ClientAddr, Credentials, OptOutApi, OptOutEntry, OptOutKey, OptOutList,
};

use super::http_api::{api_error, GatewayHttp};
use crate::{
    message::now_ms,
    optout::{number_key, sender_key},
    store::{OptOut, StoreError},
};

fn entry(opt_out: OptOut) -> OptOutEntry {
    OptOutEntry {
        number: opt_out.number,
        sender: opt_out.sender,
        source: opt_out.source,
        at: UNIX_EPOCH + Duration::from_millis(opt_out.at_ms),
    }
}

fn store_failed(error: StoreError) -> ApiError {
    tracing::error!(%error, "opt-outs not read or written");
    ApiError::internal()
}

impl OptOutApi for GatewayHttp {
    async fn list_opt_outs(
        &self,
        client: ClientAddr,
        credentials: Credentials,
    ) -> Result<OptOutList, ApiError> {
        let account = self
            .account(client, &credentials)
            .await
            .map_err(api_error)?;
        let mut opt_outs = self
            .ingest
            .store()
            .opt_outs(&account.system_id)
            .await
            .map_err(store_failed)?;
        opt_outs.sort_by(|a, b| (&a.number, &a.sender).cmp(&(&b.number, &b.sender)));
        Ok(OptOutList {
            opt_outs: opt_outs.into_iter().map(entry).collect(),
        })
    }

    async fn add_opt_out(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        key: OptOutKey,
    ) -> Result<OptOutEntry, ApiError> {
        let account = self
            .account(client, &credentials)
            .await
            .map_err(api_error)?;
        let opt_out = OptOut {
            number: number_key(&key.number).to_owned(),
            sender: sender_key(&account.opt_out, &key.sender).to_owned(),
            source: "api".into(),
            at_ms: now_ms(),
        };
        self.ingest
            .store()
            .put_opt_out(&account.system_id, &opt_out)
            .await
            .map_err(store_failed)?;
        Ok(entry(opt_out))
    }

    async fn remove_opt_out(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        key: OptOutKey,
    ) -> Result<(), ApiError> {
        let account = self
            .account(client, &credentials)
            .await
            .map_err(api_error)?;
        let removed = self
            .ingest
            .store()
            .remove_opt_out(
                &account.system_id,
                sender_key(&account.opt_out, &key.sender),
                number_key(&key.number),
            )
            .await
            .map_err(store_failed)?;
        if removed {
            Ok(())
        } else {
            Err(ApiError::no_opt_out())
        }
    }
}
