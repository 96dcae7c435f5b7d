//! The deployment assets stay in step with the code: the Kubernetes ConfigMap's smsgw.toml
//! passes the same checks as `smsgw check-config`, with the store reached over TLS with the
//! URL and CA the Deployment takes from a Secret.

mod nats_server;

use smsgw::config::{Config, StoreConfig};

/// Where the Deployment mounts the Redis CA; the ConfigMap's `tls_ca` is in it.
const REDIS_CA_MOUNT: &str = "/etc/smsgw-redis-tls";

/// The block scalar under `smsgw.toml: |`, de-indented.
fn configmap_toml() -> String {
    let yaml = include_str!("../deploy/kubernetes/configmap.yaml");
    let start = yaml.find("smsgw.toml: |").expect("smsgw.toml key") + "smsgw.toml: |".len();
    yaml[start..]
        .lines()
        .skip(1)
        .map(|line| line.strip_prefix("    ").unwrap_or(line.trim_start()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_kubernetes_configmap_is_a_valid_config_for_a_redis_cluster() {
    let env = |name: &str| match name {
        "SMSGW_REDIS_URL" => Some("rediss://:R3dis-pw@redis:6380/0".to_owned()),
        "SMSGW_ACME_PASSWORD" | "SMSGW_PRIMARY_PASSWORD" | "SMSGW_PROMETHEUS_PASSWORD" => {
            Some("secret12".to_owned())
        }
        _ => None,
    };
    // The CA is mounted in the pod; here a file stands in for it.
    let mounted = tempfile::tempdir().unwrap();
    let ca = mounted.path().join("ca.pem");
    std::fs::write(&ca, "").unwrap();
    let toml = configmap_toml();
    assert!(
        toml.contains(&format!("tls_ca = \"{REDIS_CA_MOUNT}/ca.pem\"")),
        "{toml}"
    );
    let text = format!("node_id = \"smsgw-0\"\n{toml}")
        .replace(REDIS_CA_MOUNT, &mounted.path().display().to_string());
    let config = Config::from_str_with_env(&text, "configmap.yaml", &env)
        .unwrap_or_else(|errors| panic!("{errors}"));
    let StoreConfig::Redis {
        wait_replicas: 1,
        url,
        tls,
        ..
    } = &config.store
    else {
        panic!("{:?}", config.store)
    };
    assert!(url.expose().starts_with("rediss://"));
    assert_eq!(tls.ca.as_deref(), Some(ca.as_path()));
    assert_eq!(config.node_id, "smsgw-0");
    // Reachable from other pods, so behind a user (check-config refuses it open).
    assert!(!config.admin.listen.ip().is_loopback());
    assert_eq!(config.admin.users[0].name, "prometheus");
    assert_eq!(
        config.route("acme", "447700900001", None).unwrap(),
        ["primary"]
    );
}

#[test]
fn the_kubernetes_deployment_takes_the_redis_url_and_ca_from_a_secret() {
    let deployment = include_str!("../deploy/kubernetes/deployment.yaml");
    let url = deployment
        .split("- name: SMSGW_REDIS_URL")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .expect("SMSGW_REDIS_URL in the container's env");
    assert!(
        url.contains("secretKeyRef: { name: smsgw-redis, key: url }"),
        "{url}"
    );
    assert!(
        !deployment.contains("redis://"),
        "a plain Redis URL in the Deployment"
    );
    assert!(
        deployment.contains(&format!("mountPath: {REDIS_CA_MOUNT}"))
            && deployment.contains("secretName: smsgw-redis"),
        "the Redis CA is not mounted from the Secret"
    );
    let secrets = include_str!("../deploy/kubernetes/secrets.example.yaml");
    assert!(
        secrets.contains("name: smsgw-redis") && secrets.contains("url: rediss://"),
        "{secrets}"
    );
}

/// deploy/two-sites.sh of the checkout the tests run in (cargo sets CARGO_MANIFEST_DIR when it
/// runs them; the compile-time value may name another checkout sharing the target dir).
fn two_sites_script() -> String {
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    format!("{root}/deploy/two-sites.sh")
}

/// Runs deploy/two-sites.sh on `store` with `args` in `run` on ports from `base`.
fn two_sites(store: &str, run: &std::path::Path, base: u16, args: &[&str]) -> std::process::Output {
    std::process::Command::new("bash")
        .arg(two_sites_script())
        .args(args)
        .env("SMSGW_BIN", env!("CARGO_BIN_EXE_smsgw"))
        .env("SMSGW_DEMO_STORE", store)
        .env("SMSGW_NATS_SERVER", nats_server::binary())
        .env("SMSGW_DEMO_DIR", run)
        .env("SMSGW_DEMO_PORT", base.to_string())
        .output()
        .expect("bash")
}

#[test]
fn the_two_site_demo_on_nats_starts_sends_through_each_site_and_stops_what_it_started() {
    // Three nats-server (sites A, B, C), the simulator, 4 nodes, 2 haproxy.
    two_site_demo("nats", 10);
}

#[test]
fn the_two_site_demo_on_redis_starts_sends_through_each_site_and_stops_what_it_started() {
    // 5 Redis processes (primary, replica, 3 Sentinels), the simulator, 4 nodes, 2 haproxy.
    two_site_demo("redis", 12);
}

/// Starts the demo on `store`, sends an MT through each site's balancer, stops it and checks
/// that the `processes` it started are all gone.
fn two_site_demo(store: &str, processes: usize) {
    // One demo at a time: its ports are free when chosen, not yet bound.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let syntax = std::process::Command::new("bash")
        .args(["-n", &two_sites_script()])
        .status()
        .unwrap();
    assert!(syntax.success());

    let run = tempfile::tempdir().unwrap();
    let base = free_demo_base();
    let started = two_sites(store, run.path(), base, &[]);
    let stdout = String::from_utf8_lossy(&started.stdout).into_owned();
    let pids = std::fs::read_to_string(run.path().join("pids")).unwrap_or_default();
    let sent = started.status.success().then(|| {
        [base + 80, base + 90].map(|site| {
            let form = "login=demo&password=demo1234&phone_number=447700900001&sender=DEMO\
                        &message=hello&message_id=m1&receipt=TRUE";
            let out = std::process::Command::new("curl")
                .args(["-s", "-d", form])
                .arg(format!("http://127.0.0.1:{site}/httpapi/receiver"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    });
    let stopped = two_sites(store, run.path(), base, &["--stop"]);
    assert!(
        started.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&started.stderr)
    );
    assert!(stdout.contains("site A: haproxy HTTP"), "{stdout}");
    assert_eq!(
        sent.unwrap(),
        ["result_code=0&message_id=m1", "result_code=0&message_id=m1"].map(String::from)
    );
    assert!(stopped.status.success());
    assert_eq!(pids.lines().count(), processes, "{pids}");
    for line in pids.lines() {
        let pid = line.split_whitespace().next().unwrap();
        // Gone, or a zombie its new parent has not reaped yet.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(") ").next().unwrap_or("").chars().next();
        assert!(
            matches!(state, None | Some('Z') | Some('X')),
            "{line} still running after --stop: {stat}"
        );
    }
}

/// A base port for `two-sites.sh` (it listens on base + these offsets: either store's) below the kernel's
/// ephemeral range, so the ports other tests get from the kernel never collide with it, and
/// each of them free now.
fn free_demo_base() -> u16 {
    const SPAN: u16 = 700;
    const OFFSETS: [u16; 24] = [
        10, 75, 80, 85, 90, 101, 102, 181, 182, 201, 202, 281, 282, 379, 380, 381, 382, 383, 422,
        423, 424, 622, 623, 624,
    ];
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let top = ephemeral_low.saturating_sub(SPAN).max(10_000 + SPAN);
    // Start somewhere different each run, so parallel runs on one machine rarely meet.
    let start = 10_000 + (std::process::id() % 30) as u16 * SPAN;
    (0..100u16)
        .map(|step| 10_000 + (start - 10_000 + step * SPAN) % (top - 10_000))
        .find(|base| {
            OFFSETS
                .iter()
                .all(|offset| std::net::TcpListener::bind(("127.0.0.1", base + offset)).is_ok())
        })
        .expect("a free range of ports for the two-site demo")
}
