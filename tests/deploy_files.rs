//! The deployment assets stay in step with the code: the Kubernetes ConfigMap's smsgw.toml
//! passes the same checks as `smsgw check-config`.

use smsgw::config::{Config, StoreConfig};

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
        "SMSGW_REDIS_URL" => Some("redis://redis:6379/0".to_owned()),
        "SMSGW_ACME_PASSWORD" | "SMSGW_PRIMARY_PASSWORD" => Some("secret12".to_owned()),
        _ => None,
    };
    let text = format!("node_id = \"smsgw-0\"\n{}", configmap_toml());
    let config = Config::from_str_with_env(&text, "configmap.yaml", &env)
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert!(matches!(
        config.store,
        StoreConfig::Redis {
            wait_replicas: 1,
            ..
        }
    ));
    assert_eq!(config.node_id, "smsgw-0");
    assert_eq!(
        config.route("acme", "447700900001", None).unwrap(),
        ["primary"]
    );
}
