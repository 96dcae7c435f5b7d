//! The operators' listener over real sockets: `/metrics` and `/cluster` only there (404 on
//! the public port), HTTP Basic users with roles, the lockout of failing logins, and open
//! reads on loopback when no users are configured.

mod gateway;

use std::net::SocketAddr;

use gateway::{start_sim, ConfigExtra, TestGateway};
use smsgw::credentials::hash_password;
use smsgw_http::api::ErrorBody;

const READ_PASSWORD: &str = "prom-pass";
const ADMIN_PASSWORD: &str = "ops-pass";

/// `[[admin.users]]`: `prom` (read) and `ops` (admin).
fn users() -> String {
    format!(
        "[[admin.users]]\nname = \"prom\"\npassword_hash = \"{}\"\nrole = \"read\"\n\n\
         [[admin.users]]\nname = \"ops\"\npassword_hash = \"{}\"\nrole = \"admin\"\n",
        hash_password(READ_PASSWORD),
        hash_password(ADMIN_PASSWORD)
    )
}

async fn start(admin: &str, tables: &str) -> TestGateway {
    let sim = start_sim(Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = ConfigExtra {
        admin,
        tables,
        ..ConfigExtra::default()
    };
    TestGateway::start_in(sim, dir, extra).await
}

/// GET `path` at `at`, as `user` with `password` when given.
async fn get(at: SocketAddr, path: &str, user: Option<(&str, &str)>) -> reqwest::Response {
    let request = gateway::http().get(format!("http://{at}{path}"));
    let request = match user {
        Some((name, password)) => request.basic_auth(name, Some(password)),
        None => request,
    };
    request.send().await.unwrap()
}

#[tokio::test]
async fn metrics_and_cluster_answer_only_on_the_admin_port_to_its_users() {
    let test = start(&users(), "").await;
    let (public, admin) = (test.gateway.http_addr(), test.gateway.admin_addr());
    let prom = Some(("prom", READ_PASSWORD));

    for path in ["/metrics", "/cluster"] {
        let on_public = get(public, path, prom).await;
        assert_eq!(on_public.status(), 404, "{path} on the public port");
        assert_eq!(get(admin, path, prom).await.status(), 200, "{path} as prom");
        assert_eq!(
            get(admin, path, None).await.status(),
            401,
            "{path} anonymous"
        );
        let wrong = get(admin, path, Some(("prom", "guess"))).await;
        assert_eq!(wrong.status(), 401, "{path} with a wrong password");
        assert!(wrong.headers().contains_key("www-authenticate"));
    }
    assert_eq!(get(public, "/healthz", None).await.status(), 200);
    let metrics = get(admin, "/metrics", prom).await.text().await.unwrap();
    assert!(metrics.contains("smpp_"), "{metrics}");
    let cluster: serde_json::Value = get(admin, "/cluster", prom).await.json().await.unwrap();
    assert!(cluster["nodes"].is_array(), "{cluster}");

    // A read user may not use admin routes; an admin user may, and reads too.
    let refused = get(admin, "/admin/whoami", prom).await;
    assert_eq!(refused.status(), 403);
    let body: ErrorBody = refused.json().await.unwrap();
    assert!(body.error.message.contains("role \"admin\""), "{body:?}");
    let ops = Some(("ops", ADMIN_PASSWORD));
    let whoami = get(admin, "/admin/whoami", ops).await;
    assert_eq!(whoami.status(), 200);
    let whoami: serde_json::Value = whoami.json().await.unwrap();
    assert_eq!(whoami, serde_json::json!({"user": "ops", "role": "admin"}));
    assert_eq!(get(admin, "/metrics", ops).await.status(), 200);
    test.gateway.shutdown().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_user_out_from_that_address() {
    let test = start(&users(), "[auth]\nlockout_failures = 2\n").await;
    let admin = test.gateway.admin_addr();
    for _ in 0..2 {
        let wrong = get(admin, "/metrics", Some(("prom", "guess"))).await;
        assert_eq!(wrong.status(), 401);
    }
    // Locked: even the right password is refused (it was never verified before the lock).
    let locked = get(admin, "/metrics", Some(("prom", READ_PASSWORD))).await;
    assert_eq!(locked.status(), 401);
    // Another user from the same address is not locked.
    let ops = get(admin, "/metrics", Some(("ops", ADMIN_PASSWORD))).await;
    assert_eq!(ops.status(), 200);
    test.gateway.shutdown().await;
}

#[tokio::test]
async fn without_users_reads_are_open_on_loopback_and_admin_routes_refused() {
    let test = start("", "").await;
    let admin = test.gateway.admin_addr();
    assert!(admin.ip().is_loopback());
    assert_eq!(get(admin, "/metrics", None).await.status(), 200);
    assert_eq!(get(admin, "/cluster", None).await.status(), 200);
    let refused = get(admin, "/admin/whoami", None).await;
    assert_eq!(refused.status(), 403);
    let body: ErrorBody = refused.json().await.unwrap();
    assert!(body.error.message.contains("[[admin.users]]"), "{body:?}");
    let unknown = get(admin, "/nowhere", None).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        get(test.gateway.http_addr(), "/metrics", None)
            .await
            .status(),
        404
    );
    test.gateway.shutdown().await;
}

#[tokio::test]
async fn the_admin_listener_speaks_https_with_its_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("admin.crt"), dir.path().join("admin.key"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.key_pair.serialize_pem()).unwrap();
    let admin = format!(
        "cert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let sim = start_sim(Default::default()).await;
    let extra = ConfigExtra {
        admin: &admin,
        ..ConfigExtra::default()
    };
    let test = TestGateway::start_in(sim, dir, extra).await;
    let port = test.gateway.admin_addr().port();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(issued.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/metrics");
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let plain = gateway::http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP on the TLS port"
    );
    test.gateway.shutdown().await;
}
