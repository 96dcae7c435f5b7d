//! SMPP over TLS: our server behind a rustls acceptor with a self-signed certificate, our
//! client verifying it; a client that does not trust the certificate fails to connect.

mod common;

use std::sync::Arc;

use common::*;
use smsgw_smpp::{
    client::{AcceptAll, Client, ConnectError},
    server::Server,
    BindKind,
};
use tokio::net::TcpListener;
use tokio_rustls::{
    rustls::{
        self,
        pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName},
        RootCertStore,
    },
    TlsAcceptor, TlsConnector,
};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

struct Pki {
    acceptor: TlsAcceptor,
    trusted: TlsConnector,
    untrusted: TlsConnector,
}

fn pki() -> Pki {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = issued.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_pair.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let client_with = |roots: RootCertStore| {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    };
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    Pki {
        acceptor: TlsAcceptor::from(Arc::new(server)),
        trusted: client_with(roots),
        untrusted: client_with(RootCertStore::empty()),
    }
}

#[tokio::test]
async fn bind_and_submit_over_tls() {
    let pki = pki();
    let handler = Arc::new(TestSmsc::default());
    let server = Server::new(Default::default(), handler.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    let acceptor = pki.acceptor.clone();
    tokio::spawn(async move { serving.serve_tls(listener, acceptor).await });
    let name = ServerName::try_from("localhost").unwrap();

    let client = Client::connect_tls(
        addr,
        name.clone(),
        pki.trusted,
        demo_client(BindKind::Transceiver),
        Arc::new(AcceptAll),
    )
    .await
    .unwrap();
    assert_eq!(
        client
            .submit(submit_to("447700900001", "over tls"))
            .await
            .unwrap(),
        "m0"
    );
    client.unbind().await.unwrap();

    let err = Client::connect_tls(
        addr,
        name,
        pki.untrusted,
        demo_client(BindKind::Transceiver),
        Arc::new(AcceptAll),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::Io(_)), "{err:?}");
    assert_eq!(handler.submits.lock().unwrap().len(), 1);
}
