//! What a gateway process holds in a Redis store: the MTs it took from its connectors' queues
//! and has not yet submitted, rejected or released (entries pending with its consumer in the
//! store's consumer group). Crash tests read it right after a SIGKILL to show that work was
//! still in flight on the killed node, which the others must then take over.

use std::collections::HashMap;

/// MTs the store under `key_prefix` has leased to the gateway process `pid` (its consumer
/// names start with `<pid>-`).
pub async fn mts_leased_to(
    conn: &mut redis::aio::MultiplexedConnection,
    key_prefix: &str,
    pid: u32,
) -> usize {
    // Queue streams are `{prefix}q:...` and `{prefix}qr:...` (released MTs).
    let pattern = format!("{{{key_prefix}}}q*");
    let streams: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(conn)
        .await
        .unwrap();
    let ours = format!("{pid}-");
    let mut leased = 0;
    for stream in streams {
        let consumers: Vec<HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&stream)
            .arg("smsgw")
            .query_async(conn)
            .await
            .unwrap_or_default();
        for consumer in consumers {
            let field = |name: &str| consumer.get(name).cloned().unwrap_or(redis::Value::Nil);
            let name: String = redis::from_redis_value(field("name")).unwrap_or_default();
            if name.starts_with(&ours) {
                leased += redis::from_redis_value::<usize>(field("pending")).unwrap_or(0);
            }
        }
    }
    leased
}

/// Waits until the process `pid` holds at least `at_least` MTs (panics after 30 s), so a
/// test kills it while work is surely in flight.
pub async fn until_holding(
    conn: &mut redis::aio::MultiplexedConnection,
    key_prefix: &str,
    pid: u32,
    at_least: usize,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while mts_leased_to(conn, key_prefix, pid).await < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "process {pid} never held {at_least} MTs it had taken"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}
