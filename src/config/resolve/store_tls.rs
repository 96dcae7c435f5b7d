//! `tls_ca`, `tls_cert` and `tls_key` of a shared store's table (`[store.redis]`,
//! `[store.nats]`): existing files, the certificate and its key both or neither, and only
//! where some connection of the store uses TLS, so they are never silently ignored.

use toml::Spanned;

use super::Resolver;
use crate::config::types::StoreTls;

type Setting = Option<Spanned<String>>;

impl Resolver<'_, '_, '_> {
    /// The files of `[ca, cert, key]`; `uses_tls` says whether any connection would use them,
    /// `enable_tls` how the operator turns TLS on (for the error when none does).
    pub(super) fn store_tls_files(
        &mut self,
        [ca, cert, key]: [&Setting; 3],
        uses_tls: bool,
        enable_tls: &str,
    ) -> StoreTls {
        let first_setting = [ca, cert, key].into_iter().flatten().next();
        if let Some(setting) = first_setting.filter(|_| !uses_tls) {
            self.problems.at(
                setting.span(),
                format!(
                    "no store connection uses TLS: {enable_tls} for the certificates to be used"
                ),
            );
        }
        let ca = ca
            .as_ref()
            .map(|ca| self.existing_file(ca, "CA certificate"));
        let client = match (cert, key) {
            (Some(cert), Some(key)) => Some((
                self.existing_file(cert, "client certificate"),
                self.existing_file(key, "client key"),
            )),
            (Some(only), None) | (None, Some(only)) => {
                self.problems.at(
                    only.span(),
                    "tls_cert and tls_key go together: the client certificate and its key",
                );
                None
            }
            (None, None) => None,
        };
        StoreTls { ca, client }
    }
}
