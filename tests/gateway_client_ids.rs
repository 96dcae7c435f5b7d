//! A client finds its message by the id it knows, over real sockets: the status API takes the
//! account's own client id as well as ours (never another account's), and a receipt on a bind
//! carries the id the client was answered with (its message_id on the Genesys receiver, ours
//! on SMPP and the JSON API).

mod gateway;

use gateway::*;
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::{encoding::receipt_from_deliver_sm, BindKind};

/// A second account, `beta`, with its own password hash.
fn beta_account() -> String {
    let hash = smsgw::credentials::hash_password(PASSWORD);
    format!("[[accounts]]\nsystem_id = \"beta\"\npassword_hash = \"{hash}\"\n")
}

async fn gateway_with_beta() -> TestGateway {
    let sim = start_sim(CarrierSimConfig::default()).await;
    let tables = beta_account();
    let extra = ConfigExtra {
        tables: &tables,
        ..ConfigExtra::default()
    };
    TestGateway::start_in(sim, tempfile::tempdir().unwrap(), extra).await
}

fn genesys(login: &str, message_id: &str, text: &str) -> Vec<(String, String)> {
    genesys_form(login, message_id, "ACME", text)
}

/// `GET /v1/messages/{id}` as `login`: the status code and the body.
async fn status_of(test: &TestGateway, login: &str, id: &str) -> (u16, serde_json::Value) {
    let response = http()
        .get(test.url(&format!("/v1/messages/{id}")))
        .basic_auth(login, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_api_takes_the_accounts_own_client_id_and_no_other_accounts() {
    let test = gateway_with_beta().await;
    let (code, body) = post_receiver(&test, &genesys("acme", "m1", "hello")).await;
    assert_eq!((code, body.as_str()), (200, "result_code=0&message_id=m1"));

    let (code, by_client_id) = status_of(&test, "acme", "m1").await;
    assert_eq!(code, 200, "{by_client_id}");
    let ours = by_client_id["id"].as_str().unwrap().to_owned();
    assert!(ours.starts_with("test-n1-"), "{ours}");
    assert_eq!(by_client_id["to"], "447700900001");
    // Our id still works and names the same message.
    let (code, by_our_id) = status_of(&test, "acme", &ours).await;
    assert_eq!((code, &by_our_id["id"]), (200, &by_client_id["id"]));

    // Another account: neither acme's client id nor acme's id resolves...
    assert_eq!(status_of(&test, "beta", "m1").await.0, 404);
    assert_eq!(status_of(&test, "beta", &ours).await.0, 404);
    // ... and its own m1 is its own message.
    let (code, _) = post_receiver(&test, &genesys("beta", "m1", "other text")).await;
    assert_eq!(code, 200);
    let (code, beta_m1) = status_of(&test, "beta", "m1").await;
    assert_eq!(code, 200, "{beta_m1}");
    assert_ne!(beta_m1["id"], by_client_id["id"]);
    assert_eq!(status_of(&test, "acme", "m1").await.1["id"], ours.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_on_a_bind_carries_the_id_the_client_was_answered_with() {
    let test = TestGateway::start().await;
    let (_receiver, mut incoming) = test.bind(BindKind::Receiver).await;

    // The Genesys receiver answered with the client's message_id: the receipt carries it.
    let (code, body) = post_receiver(&test, &genesys("acme", "genesys-7", "hello")).await;
    assert_eq!(
        (code, body.as_str()),
        (200, "result_code=0&message_id=genesys-7")
    );
    let receipt = receipt_from_deliver_sm(&next_deliver(&mut incoming).await).unwrap();
    assert_eq!(receipt.id, "genesys-7");

    // The JSON API answered with our id (an Idempotency-Key is not what it answered with).
    let accepted: serde_json::Value = json_of(
        http()
            .post(test.url("/v1/messages"))
            .basic_auth("acme", Some(PASSWORD))
            .header("Idempotency-Key", "key-7")
            .json(&serde_json::json!({
                "to": "447700900001", "from": "ACME", "text": "hi", "receipt": true
            })),
    )
    .await;
    let receipt = receipt_from_deliver_sm(&next_deliver(&mut incoming).await).unwrap();
    assert_eq!(receipt.id, accepted["id"].as_str().unwrap());
}
