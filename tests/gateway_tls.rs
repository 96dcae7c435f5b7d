//! End to end over TLS with a self-signed certificate for `localhost` and 127.0.0.1: an SMPP
//! client on the SMPP-over-TLS listener, an HTTPS POST to the Genesys receiver, the gateway's
//! connector binding to a carrier simulator behind TLS; clients that do not trust the
//! certificate fail; unusable certificate or key files stop the gateway with a clear error;
//! behind a balancer, the TLS listeners read its PROXY header before the handshake.

mod gateway;
mod loopback;

use std::{path::PathBuf, sync::Arc};

use gateway::*;
use smsgw::{
    carrier_sim::{CarrierSim, CarrierSimConfig},
    config::Config,
    edge::tls::TlsError,
    node::{Gateway, StartError},
};
use smsgw_smpp::{
    client::{ConnectError, DeliverStream},
    encoding::receipt_from_deliver_sm,
    rusmpp::values::MessageState,
    BindKind, BindRequest, Client, ClientConfig,
};
use tokio::net::TcpListener;
use tokio_rustls::{
    rustls::{self, pki_types::ServerName, RootCertStore},
    TlsAcceptor, TlsConnector,
};

/// A self-signed certificate and its key, as PEM files in a temp dir.
struct TestPki {
    dir: tempfile::TempDir,
    cert_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

impl TestPki {
    fn new() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let issued = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_pem = issued.cert.pem();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, &cert_pem).unwrap();
        std::fs::write(&key, issued.key_pair.serialize_pem()).unwrap();
        Self {
            dir,
            cert_pem,
            cert,
            key,
        }
    }

    /// A `{ address, cert, key }` TOML table on 127.0.0.1:0.
    fn listener_table(&self) -> String {
        format!(
            r#"{{ address = "127.0.0.1:0", cert = "{}", key = "{}" }}"#,
            self.cert.display(),
            self.key.display()
        )
    }

    fn connector(&self, trusted: bool) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        if trusted {
            for cert in smsgw::edge::tls::load_certificates(&self.cert).unwrap() {
                roots.add(cert).unwrap();
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// A gateway whose listeners and connector get `extra`, with its files in the PKI's dir.
async fn start_gateway(pki: TestPki, sim: CarrierSim, extra: ConfigExtra<'_>) -> TestGateway {
    TestGateway::start_in(sim, pki.dir, extra).await
}

/// Waits (up to 5 s) until nothing accepts connections on `address` any more.
async fn assert_stops_listening(address: std::net::SocketAddr) {
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(address).await.is_err() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{address} still accepts connections after shutdown");
}

fn receipt_state(pdu: &smsgw_smpp::rusmpp::pdus::DeliverSm) -> (String, MessageState) {
    let receipt = receipt_from_deliver_sm(pdu).unwrap();
    (receipt.id, receipt.stat.unwrap().state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_over_tls_binds_submits_and_gets_the_receipt() {
    let pki = TestPki::new();
    let trusted = pki.connector(true);
    let untrusted = pki.connector(false);
    let listeners = format!("smpp_tls = {}", pki.listener_table());
    let sim = start_sim(CarrierSimConfig::default()).await;
    let extra = ConfigExtra {
        listeners: &listeners,
        ..ConfigExtra::default()
    };
    let test = start_gateway(pki, sim, extra).await;
    let address = test.gateway.smpp_tls_addr().expect("smpp_tls configured");
    assert_ne!(address.port(), 0);
    assert_ne!(address, test.gateway.smpp_addr());

    let bind = || ClientConfig::new(BindRequest::new(BindKind::Transceiver, "acme", PASSWORD));
    let name = ServerName::try_from("localhost").unwrap();
    let (handler, mut incoming) = DeliverStream::new(16);
    let client = Client::connect_tls(address, name.clone(), trusted, bind(), Arc::new(handler))
        .await
        .unwrap();
    let id = client
        .submit(submit("447700900001", "over tls", true))
        .await
        .unwrap();
    let pdu = next_deliver(&mut incoming).await;
    assert_eq!(receipt_state(&pdu), (id, MessageState::Delivered));
    client.unbind().await.unwrap();

    let (handler, _incoming) = DeliverStream::new(16);
    let err = Client::connect_tls(address, name, untrusted, bind(), Arc::new(handler))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Io(_)), "{err:?}");
    assert_eq!(test.sim.stats().submits_accepted, 1);
    test.gateway.shutdown().await;
    assert_stops_listening(address).await;
}

fn receiver_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("login", "acme"),
        ("password", PASSWORD),
        ("phone_number", "447700900001"),
        ("sender", "ACME"),
        ("message", "over https"),
        ("message_id", "tls-1"),
        ("receipt", "TRUE"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_receiver_accepts_an_mt_from_a_client_that_trusts_the_certificate() {
    let pki = TestPki::new();
    let certificate = reqwest::Certificate::from_pem(pki.cert_pem.as_bytes()).unwrap();
    let listeners = format!("https = {}", pki.listener_table());
    let sim = start_sim(CarrierSimConfig::default()).await;
    let extra = ConfigExtra {
        listeners: &listeners,
        ..ConfigExtra::default()
    };
    let test = start_gateway(pki, sim, extra).await;
    let address = test.gateway.https_addr().expect("https configured");
    assert_ne!(address.port(), 0);
    let url = format!("https://localhost:{}/httpapi/receiver", address.port());

    let trusting = reqwest::Client::builder()
        .add_root_certificate(certificate)
        .resolve("localhost", address)
        .build()
        .unwrap();
    let response = trusting
        .post(&url)
        .form(&receiver_form())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "result_code=0&message_id=tls-1"
    );

    let distrusting = reqwest::Client::builder()
        .resolve("localhost", address)
        .build()
        .unwrap();
    let err = distrusting
        .post(&url)
        .form(&receiver_form())
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    // Plain HTTP is still served beside HTTPS.
    let plain = http()
        .get(test.url("/healthz"))
        .send()
        .await
        .unwrap()
        .status();
    assert!(plain.is_success(), "{plain}");
    test.gateway.shutdown().await;
    assert_stops_listening(address).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_binds_to_a_carrier_over_tls_trusting_its_ca() {
    let pki = TestPki::new();
    let server = smsgw::edge::tls::server_config(&pki.cert, &pki.key).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = CarrierSim::start_tls(
        listener,
        TlsAcceptor::from(server),
        CarrierSimConfig {
            dr_delay: std::time::Duration::from_millis(10),
            ..CarrierSimConfig::default()
        },
    )
    .unwrap();
    // The endpoint is 127.0.0.1:<port>: the certificate is verified for that IP address.
    let connector = format!("tls = {{ ca = \"{}\" }}", pki.cert.display());
    let extra = ConfigExtra {
        connector: &connector,
        ..ConfigExtra::default()
    };
    let test = start_gateway(pki, sim, extra).await;
    let (client, mut incoming) = test.bind(BindKind::Transceiver).await;
    let id = client
        .submit(submit("447700900001", "to a TLS carrier", true))
        .await
        .unwrap();
    let pdu = next_deliver(&mut incoming).await;
    assert_eq!(receipt_state(&pdu), (id, MessageState::Delivered));
    assert_eq!(test.sim.stats().submits_accepted, 1);
    test.gateway.shutdown().await;
}

/// The TLS error a failed start reports; panics on any other error.
fn tls_error(err: &StartError) -> &TlsError {
    match err {
        StartError::Tls { error, .. } => error,
        other => panic!("not a TLS error: {other:?}"),
    }
}

/// Starts a gateway (plain simulator) with `listeners` and `connector` extras; its error.
async fn start_error(pki: &TestPki, listeners: &str, connector: &str) -> StartError {
    let sim = start_sim(CarrierSimConfig::default()).await;
    let extra = ConfigExtra {
        listeners,
        connector,
        ..ConfigExtra::default()
    };
    let text = config_text_with(sim.local_addr(), pki.dir.path(), extra);
    let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let err = match Gateway::start(config).await {
        Ok(_) => panic!("the gateway started"),
        Err(err) => err,
    };
    sim.shutdown().await;
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_certificate_key_or_ca_files_stop_the_start_with_a_clear_error() {
    let pki = TestPki::new();
    let table = |cert: &PathBuf, key: &PathBuf| {
        format!(
            r#"{{ address = "127.0.0.1:0", cert = "{}", key = "{}" }}"#,
            cert.display(),
            key.display()
        )
    };

    // A key file given as the certificate.
    let err = start_error(&pki, &format!("https = {}", table(&pki.key, &pki.key)), "").await;
    assert!(
        matches!(tls_error(&err), TlsError::NoCertificate(path) if *path == pki.key),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("https listener: no certificate in"),
        "{err}"
    );

    // A certificate file given as the key.
    let err = start_error(
        &pki,
        &format!("smpp_tls = {}", table(&pki.cert, &pki.cert)),
        "",
    )
    .await;
    assert!(
        matches!(tls_error(&err), TlsError::NoKey(path) if *path == pki.cert),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("smpp_tls listener: no private key in"),
        "{err}"
    );

    // A key from another pair.
    let other = rcgen::KeyPair::generate().unwrap();
    let other_key = pki.dir.path().join("other-key.pem");
    std::fs::write(&other_key, other.serialize_pem()).unwrap();
    let err = start_error(
        &pki,
        &format!("https = {}", table(&pki.cert, &other_key)),
        "",
    )
    .await;
    assert!(
        matches!(tls_error(&err), TlsError::KeyMismatch { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("does not match"), "{text}");
    assert!(text.contains(&other_key.display().to_string()), "{text}");

    // A CA bundle without certificates.
    let connector = format!("tls = {{ ca = \"{}\" }}", pki.key.display());
    let err = start_error(&pki, "", &connector).await;
    assert!(
        matches!(tls_error(&err), TlsError::NoCertificate(_)),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("connector sim: "), "{err}");

    // A certificate that disappeared after the config was loaded.
    let gone = pki.dir.path().join("gone.pem");
    std::fs::write(&gone, &pki.cert_pem).unwrap();
    let sim = start_sim(CarrierSimConfig::default()).await;
    let listeners = format!("https = {}", table(&gone, &pki.key));
    let extra = ConfigExtra {
        listeners: &listeners,
        ..ConfigExtra::default()
    };
    let text = config_text_with(sim.local_addr(), pki.dir.path(), extra);
    let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(&gone).unwrap();
    let err = match Gateway::start(config).await {
        Ok(_) => panic!("the gateway started"),
        Err(err) => err,
    };
    assert!(
        matches!(tls_error(&err), TlsError::Read { path, .. } if *path == gone),
        "{err:?}"
    );
    assert!(err.to_string().contains("gone.pem"), "{err}");
    sim.shutdown().await;
}

/// A TCP connection to `address` that has sent a PROXY header naming `client`.
async fn via_balancer(address: std::net::SocketAddr, client: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = loopback::connect_from(loopback::BALANCER, address).await;
    stream.write_all(&loopback::proxy_v2(client)).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listeners_read_the_balancers_proxy_header_before_the_handshake() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = TestPki::new();
    let connector = pki.connector(true);
    let listeners = format!(
        "smpp_tls = {table}\nhttps = {table}\ntrusted_proxies = [\"127.0.0.1\"]\n\
         proxy_protocol = [\"smpp_tls\", \"https\"]\n",
        table = pki.listener_table()
    );
    let sim = start_sim(CarrierSimConfig::default()).await;
    let extra = ConfigExtra {
        listeners: &listeners,
        tables: LOCK_AFTER_ONE_FAILURE,
        ..ConfigExtra::default()
    };
    let test = start_gateway(pki, sim, extra).await;
    let name = ServerName::try_from("localhost").unwrap();

    // SMPP over TLS: a failed bind locks out the address the header names, not the balancer.
    let smpp_tls = test.gateway.smpp_tls_addr().unwrap();
    let bind = |password: &str| {
        ClientConfig::new(BindRequest::new(BindKind::Transceiver, "acme", password))
    };
    let bind_as = |client: &'static str, password: &'static str| {
        let connector = connector.clone();
        let name = name.clone();
        async move {
            let stream = via_balancer(smpp_tls, client).await;
            let tls = connector.connect(name, stream).await.unwrap();
            let (handler, _incoming) = DeliverStream::new(16);
            Client::bind_over(tls, Some(smpp_tls), bind(password), Arc::new(handler)).await
        }
    };
    assert!(matches!(
        bind_as("203.0.113.7:1", "wrongpw").await,
        Err(ConnectError::Rejected(_))
    ));
    assert!(matches!(
        bind_as("203.0.113.7:2", PASSWORD).await,
        Err(ConnectError::Rejected(_))
    ));
    let other = bind_as("203.0.113.8:1", PASSWORD).await.unwrap();
    other.unbind().await.unwrap();

    // HTTPS: the handshake follows the header.
    let https = test.gateway.https_addr().unwrap();
    let stream = via_balancer(https, "203.0.113.9:1").await;
    let mut tls = connector.connect(name, stream).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
