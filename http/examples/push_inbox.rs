//! Receiving smsgw's MO and receipt pushes with [`inbox::router`]: both formats (Genesys form,
//! signed JSON), the signature checked when a secret is set, repeats dropped by id, and 200
//! only after the callback succeeded (an `Err` makes smsgw retry later).
//!
//! ```text
//! SMSGW_PUSH_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw \
//!   cargo run -p smsgw-http --example push_inbox -- 127.0.0.1:9000
//! # then point the account's push URL at http://127.0.0.1:9000/smsgw/push
//! ```

use smsgw_http::inbox::{self, InboxConfig, PushHandler};
use smsgw_http::PushMessage;

struct PrintPushes;

impl PushHandler for PrintPushes {
    async fn on_push(&self, message: PushMessage) -> Result<(), String> {
        // Store it durably here; return Err if that fails, and smsgw sends it again.
        match message {
            PushMessage::Mo {
                message_id,
                phone_number,
                message,
                ..
            } => println!("MO {message_id} from {phone_number}: {message}"),
            PushMessage::Receipt {
                message_id,
                message_state,
                ..
            } => println!("receipt for {message_id}: {message_state:?}"),
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let config = InboxConfig {
        signing_secret: std::env::var("SMSGW_PUSH_SECRET").ok(),
        ..InboxConfig::default()
    };
    let app = inbox::router("/smsgw/push", PrintPushes, config)?;
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!(
        "receiving pushes on http://{}/smsgw/push",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
