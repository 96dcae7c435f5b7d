//! The config loader through its public API: defaults, the shipped example, every kind of
//! problem at its line and column, and the lookups the gateway makes per message.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use smsgw::config::{
    AdminRole, Config, ConfigErrors, Numbering, OptOutScope, ProxyProtocolOn, PushFormat,
    RedisSentinel, Secret, StoreConfig, StoreTls,
};
use smsgw::credentials::verify_password;
use smsgw::message::MoMultipart;
use smsgw_smpp::encoding::ReceiptIdFormat;

const ENV: &[(&str, &str)] = &[
    ("SMSGW_BULKCO_PASSWORD", "bulk-pass"),
    ("SMSGW_PRIMARY_PASSWORD", "prim-pw"),
    (
        "SMSGW_ACME_WEBHOOK_SECRET",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    ),
    ("SMSGW_TEST_PASSWORD", "test-pass"),
    ("SMSGW_EVENTS_POSTGRES", "postgres://smsgw:pw@db/smsgw"),
    ("SMSGW_PROMETHEUS_PASSWORD", "prom-pass"),
    ("SMSGW_OPS_PASSWORD", "ops-pass"),
];

fn env(name: &str) -> Option<String> {
    let vars: HashMap<&str, &str> = ENV.iter().copied().collect();
    vars.get(name).map(|value| value.to_string())
}

fn load(text: &str) -> Result<Config, ConfigErrors> {
    Config::from_str_with_env(text, "test.toml", &env)
}

fn problems(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The single problem in `text`, which must start with `test.toml:LINE:COLUMN: `.
fn single_problem(text: &str) -> String {
    let all = problems(text);
    assert_eq!(all.len(), 1, "expected one problem, got {all:#?}");
    all.into_iter().next().unwrap()
}

fn assert_problem(text: &str, line_column: &str, needle: &str) {
    let problem = single_problem(text);
    let prefix = format!("test.toml:{line_column}: ");
    assert!(
        problem.starts_with(&prefix) && problem.contains(needle),
        "expected `{prefix}...{needle}...`, got `{problem}`"
    );
}

const ACCOUNT: &str = "[[accounts]]\nsystem_id = \"a\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\n";
const CONNECTOR: &str =
    "[[connectors]]\nname = \"c1\"\nendpoints = [\"h:1\"]\nsystem_id = \"x\"\npassword = \"p\"\n";
const ROUTE: &str = "[[routes]]\nprefix = \"*\"\nconnectors = [\"c1\"]\n";

#[test]
fn defaults_match_architecture() {
    let config = Config::default();
    assert!(!config.node_id.is_empty());
    assert_eq!(config.site, "local");
    assert_eq!(config.data_dir, Path::new("./smsgw-data"));
    assert_eq!(config.listeners.smpp.to_string(), "127.0.0.1:2775");
    assert_eq!(config.listeners.http.to_string(), "127.0.0.1:8080");
    assert!(config.listeners.smpp_tls.is_none() && config.listeners.https.is_none());
    let edge = &config.listeners.edge;
    assert!(edge.trusted_proxies.is_empty() && !edge.x_forwarded_for);
    assert_eq!(edge.proxy_protocol, ProxyProtocolOn::default());
    assert_eq!(
        (edge.max_connections, edge.max_unauthenticated_per_address),
        (10_000, 64)
    );
    assert_eq!(edge.header_read_timeout, Duration::from_secs(10));
    assert_eq!(edge.body_read_timeout, Duration::from_secs(30));
    assert_eq!(
        config.store,
        StoreConfig::Embedded {
            path: Path::new("./smsgw-data").join("smsgw.redb")
        }
    );
    let demo = config.account_by_system_id("demo").expect("demo account");
    assert_eq!(config.account_by_http_login("demo"), Some(demo));
    assert!(verify_password(&demo.password_hash, "demo1234"));
    assert!(demo.push.is_none());
    assert_eq!(demo.max_binds, 10);
    assert_eq!(demo.max_segments, 10);
    assert_eq!(demo.outbox_ttl, Duration::from_secs(72 * 3600));
    assert_eq!(demo.idempotency_ttl, Duration::from_secs(24 * 3600));
    let sim = config.connector("sim").expect("sim connector");
    assert_eq!(sim.endpoints, ["127.0.0.1:2776"]);
    assert_eq!(
        (sim.system_id.as_str(), sim.password.expose()),
        ("smsgw", "sim")
    );
    assert_eq!(sim.rebind_delay, Duration::from_secs(30));
    assert_eq!(config.route("demo", "447700900123", None).unwrap(), ["sim"]);
    let simulator = config.builtin_simulator.expect("simulator on by default");
    assert_eq!(simulator.listen.to_string(), "127.0.0.1:2776");
    assert_eq!(simulator.dr_delay, Duration::from_millis(50));
}

#[test]
fn empty_file_gives_file_defaults_without_demo_or_simulator() {
    let config = load("").unwrap();
    assert!(config.accounts().is_empty() && config.connectors().is_empty());
    assert!(config.builtin_simulator.is_none());
    assert_eq!(config.site, "local");
    assert_eq!(config.listeners.smpp.to_string(), "127.0.0.1:2775");
}

#[test]
fn shipped_example_parses_with_every_setting() {
    let path = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("deploy/smsgw.example.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = Config::from_str_with_env(&text, &path.display().to_string(), &env)
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        (config.node_id.as_str(), config.site.as_str()),
        ("gw-a1", "dc-a")
    );
    let deploy = path.parent().unwrap();
    assert_eq!(config.data_dir, deploy.join("smsgw-data"));
    assert_eq!(
        config.store,
        StoreConfig::Embedded {
            path: deploy.join("smsgw-data/smsgw.redb")
        }
    );
    assert!(config.builtin_simulator.is_none());
    let edge = &config.listeners.edge;
    assert_eq!(
        edge.trusted_proxies,
        [
            "10.0.1.5/32".parse().unwrap(),
            "10.0.1.6/32".parse().unwrap()
        ]
    );
    assert_eq!(
        edge.proxy_protocol,
        ProxyProtocolOn {
            smpp: true,
            http: true,
            ..ProxyProtocolOn::default()
        }
    );
    let acme = config.account_by_http_login("acme").unwrap();
    assert!(verify_password(&acme.password_hash, "acme-secret"));
    assert_eq!(acme.throughput, Some(50));
    let push = acme.push.as_ref().unwrap();
    assert_eq!(push.format, PushFormat::Json);
    assert_eq!(
        push.signing_secret.as_ref().map(Secret::expose),
        Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    );
    let bulkco = config.account_by_system_id("bulkco").unwrap();
    assert!(verify_password(&bulkco.password_hash, "bulk-pass"));
    assert_eq!((acme.window, acme.inbound_window), (64, 128));
    let primary = config.connector("primary").unwrap();
    assert_eq!(primary.password.expose(), "prim-pw");
    assert_eq!((primary.window, primary.inbound_window), (64, 128));
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("prim-pw") && !shown.contains("whsec_"),
        "{shown}"
    );
    assert_eq!(primary.binds, 2);
    assert_eq!(primary.dest_ton, Numbering::Fixed(1));
    assert_eq!(primary.source_ton_npi("ACME"), (5, 0));
    assert_eq!(primary.source_ton_npi("447700900123"), (1, 1));
    assert_eq!(config.routes().len(), 4);
    assert_eq!(config.mo_account("88300555").unwrap().system_id, "acme");
    assert_eq!(config.mo_account("88301").unwrap().system_id, "bulkco");
    assert_eq!(config.auth.lockout.max_failures, 5);
    assert_eq!(config.auth.lockout.duration, Duration::from_secs(60));
    assert_eq!(config.auth.verifier_wait, Duration::from_millis(100));
    let opt_out = &acme.opt_out;
    assert!(opt_out.enabled);
    assert_eq!(opt_out.scope, OptOutScope::Account);
    assert_eq!(opt_out.start, ["START", "UNSTOP"]);
    assert!(opt_out
        .help_reply
        .as_deref()
        .unwrap()
        .contains("Reply STOP"));
    assert!(!bulkco.opt_out.enabled);
    assert_eq!(bulkco.opt_out.stop.len(), 6);
    assert_eq!(acme.mo_multipart, MoMultipart::Parts);
    assert_eq!(primary.mo_multipart_timeout, Duration::from_secs(1800));
    assert_eq!(config.admin.listen.to_string(), "10.0.1.11:8090");
    let prometheus = &config.admin.users[0];
    assert_eq!(prometheus.role, AdminRole::Read);
    assert!(verify_password(&prometheus.password_hash, "prom-pass"));
    assert_eq!(config.admin.users[1].role, AdminRole::Admin);
}

#[test]
fn mo_multipart_is_parts_or_payload() {
    let config = load(&format!("{ACCOUNT}mo_multipart = \"payload\"\n")).unwrap();
    let account = config.account_by_system_id("a").unwrap();
    assert_eq!(account.mo_multipart, MoMultipart::Payload);
    let config = load(ACCOUNT).unwrap();
    let account = config.account_by_system_id("a").unwrap();
    assert_eq!(account.mo_multipart, MoMultipart::Parts);
    assert_problem(
        &format!("{ACCOUNT}mo_multipart = \"joined\"\n"),
        "4:16",
        "must be \"parts\" or \"payload\"",
    );
    let config = load(&format!(
        "{ACCOUNT}{CONNECTOR}mo_multipart_timeout = \"2m\"\n{ROUTE}"
    ))
    .unwrap();
    let connector = config.connector("c1").unwrap();
    assert_eq!(connector.mo_multipart_timeout, Duration::from_secs(120));
}

#[test]
fn opt_out_tables_are_checked_where_they_are_written() {
    let table = |lines: &str| format!("{ACCOUNT}[accounts.opt_out]\n{lines}");
    let config = load(&table(
        "enabled = true\nscope = \"sender\"\nstop = [\" Halt \"]\n",
    ))
    .unwrap();
    let opt_out = &config.account_by_system_id("a").unwrap().opt_out;
    assert_eq!(opt_out.scope, OptOutScope::Sender);
    assert_eq!(opt_out.stop, ["HALT"]);
    assert_eq!(opt_out.help, ["HELP", "INFO"]);
    assert_problem(
        &table("scope = \"everyone\"\n"),
        "5:9",
        "must be \"account\" or \"sender\"",
    );
    assert_problem(
        &table("stop = [\"STOP\"]\nstart = [\"stop\"]\n"),
        "6:10",
        "already listed on line 5",
    );
    assert_problem(&table("help = [\" \"]\n"), "5:9", "must not be empty");
    assert_problem(
        &table("help_reply = \"\"\n"),
        "5:14",
        "help_reply must not be empty",
    );
    assert_problem(&table("stop_words = []\n"), "5:1", "unknown field");
}

#[test]
fn unknown_field_points_at_the_key() {
    assert_problem(
        "[listeners]\nsmpp = \"127.0.0.1:1\"\nhtps = \"x\"\n",
        "3:1",
        "unknown field `htps`",
    );
    assert_problem("nodeid = \"x\"\n", "1:1", "unknown field `nodeid`");
    let text = format!("{ACCOUNT}max_bind = 3\n");
    assert_problem(&text, "4:1", "unknown field `max_bind`");
}

#[test]
fn wrong_type_points_at_the_value() {
    let text = format!("{ACCOUNT}max_binds = \"ten\"\n");
    assert_problem(&text, "4:13", "invalid type");
    assert_problem("site = 5\n", "1:8", "invalid type");
    assert_problem(
        "listeners = 5\n",
        "1:13",
        "invalid type: integer `5`, expected a [listeners] table",
    );
    assert_problem(
        "accounts = 3\n",
        "1:12",
        "write each entry under [[accounts]]",
    );
}

#[test]
fn syntax_error_has_a_position() {
    assert_problem(
        "site = \"x\"\nnode_id = \n",
        "2:11",
        "string values must be quoted",
    );
}

#[test]
fn bad_duration_points_at_the_value() {
    let text = format!("{CONNECTOR}response_timeout = \"10\"\n{ROUTE}");
    assert_problem(&text, "6:20", "missing unit");
}

#[test]
fn bad_address_points_at_the_value() {
    assert_problem(
        "[listeners]\nhttp = \"localhost:80\"\n",
        "2:8",
        "not a socket address",
    );
}

#[test]
fn listener_defences_are_checked_where_they_are_written() {
    let trusted = "[listeners]\ntrusted_proxies = [\"10.0.0.0/8\"]\n";
    assert_problem(
        "[listeners]\ntrusted_proxies = [\"10.0.0.1\", \"balancer\"]\n",
        "2:32",
        "\"balancer\" is not an IP address or network",
    );
    assert_problem(
        &format!("{trusted}proxy_protocol = [\"smpp\", \"ftp\"]\n"),
        "3:27",
        "unknown listener \"ftp\" (known: smpp, smpp_tls, http, https)",
    );
    assert_problem(
        &format!("{trusted}proxy_protocol = [\"https\"]\n"),
        "3:19",
        "listener https is not configured",
    );
    assert_problem(
        "[listeners]\nproxy_protocol = [\"smpp\"]\n",
        "2:19",
        "no effect without trusted_proxies",
    );
    assert_problem(
        "[listeners]\nx_forwarded_for = true\n",
        "2:19",
        "no effect without trusted_proxies",
    );
    assert_problem(
        "[listeners]\nmax_unauthenticated_per_address = 0\n",
        "2:35",
        "must be at least 1",
    );
    assert_problem(
        "[listeners]\nheader_read_timeout = \"100ms\"\n",
        "2:23",
        "header_read_timeout must be at least 1s",
    );
    let ipv6 = load("[listeners]\ntrusted_proxies = [\"2001:db8::/32\", \"::1\"]\n").unwrap();
    assert_eq!(ipv6.listeners.edge.trusted_proxies.len(), 2);
}

#[test]
fn unknown_connector_in_route_points_at_the_name() {
    let text = format!("{CONNECTOR}[[routes]]\nprefix = \"44\"\nconnectors = [\"c1\", \"c2\"]\n");
    assert_problem(&text, "8:21", "unknown connector \"c2\" (known: c1)");
}

#[test]
fn unknown_account_in_route_is_reported() {
    let text = format!("{CONNECTOR}{ROUTE}account = \"nobody\"\n");
    assert_problem(&text, "9:11", "unknown account \"nobody\"");
}

#[test]
fn duplicate_account_points_at_the_second() {
    let text = format!("{ACCOUNT}{ACCOUNT}");
    assert_problem(
        &text,
        "5:13",
        "duplicate account system_id \"a\" (first defined at line 2)",
    );
}

#[test]
fn unknown_receipt_id_format_lists_the_choices() {
    let text = format!("{CONNECTOR}receipt_id_format = \"hex\"\n{ROUTE}");
    assert_problem(
        &text,
        "6:21",
        "expected one of \"same\", \"hex_resp_decimal_receipt\"",
    );
    let text = format!("{CONNECTOR}receipt_id_format = \"decimal_resp_hex_receipt\"\n{ROUTE}");
    let config = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.connector("c1").unwrap().receipt_id_format,
        ReceiptIdFormat::DecimalRespHexReceipt
    );
    let config = load(&format!("{CONNECTOR}{ROUTE}")).unwrap();
    assert_eq!(
        config.connector("c1").unwrap().receipt_id_format,
        ReceiptIdFormat::Same
    );
}

#[test]
fn rebind_delay_below_30s_is_refused() {
    let text = format!("{CONNECTOR}rebind_delay = \"10s\"\n{ROUTE}");
    assert_problem(&text, "6:16", "rebind_delay must be at least 30s");
}

#[test]
fn missing_env_var_points_at_the_name() {
    let text = "[[accounts]]\nsystem_id = \"a\"\npassword_env = \"SMSGW_NOT_SET_ANYWHERE\"\n";
    assert_problem(
        text,
        "3:16",
        "environment variable SMSGW_NOT_SET_ANYWHERE is not set",
    );
}

#[test]
fn missing_cert_file_points_at_the_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.key"), "key").unwrap();
    let file = dir.path().join("smsgw.toml");
    let text = "[listeners.https]\naddress = \"0.0.0.0:8443\"\ncert = \"server.crt\"\nkey = \"server.key\"\n";
    let errors = Config::from_str_with_env(text, &file.display().to_string(), &env).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    let shown = errors.to_string();
    assert!(
        shown.starts_with(&format!("{}:3:8: ", file.display())),
        "{shown}"
    );
    assert!(shown.contains("server.crt does not exist"), "{shown}");
}

#[test]
fn existing_cert_files_are_accepted_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.crt"), "crt").unwrap();
    std::fs::write(dir.path().join("server.key"), "key").unwrap();
    let file = dir.path().join("smsgw.toml");
    let text = "[listeners]\nsmpp_tls = { address = \"0.0.0.0:3550\", cert = \"server.crt\", key = \"server.key\" }\n";
    let config = Config::from_str_with_env(text, &file.display().to_string(), &env).unwrap();
    let tls = config.listeners.smpp_tls.unwrap();
    assert_eq!(tls.cert, dir.path().join("server.crt"));
}

#[test]
fn all_problems_are_reported_together_in_file_order() {
    let broken_connector = "[[connectors]]\nname = \"c3\"\nendpoints = [\"h:1\"]\nsystem_id = \"x\"\npassword = \"p\"\nwindow = \"x\"\n";
    let text = format!(
        "site = \"no spaces\"\n{ACCOUNT}{ACCOUNT}{CONNECTOR}{CONNECTOR}rebind_delay = \"1s\"\n{broken_connector}\
         [[routes]]\nprefix = \"*\"\nconnectors = [\"c1\", \"nope\"]\n[[routes]]\nprefix = \"4x\"\nconnectors = [\"c1\"]\nbogus = 1\n"
    );
    let all = problems(&text);
    let places: Vec<&str> = all
        .iter()
        .map(|problem| problem.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        places,
        [
            "test.toml:1:8",   // site with a space
            "test.toml:6:13",  // duplicate account
            "test.toml:14:8",  // duplicate connector name
            "test.toml:18:16", // rebind_delay too short
            "test.toml:24:10", // window of the wrong type (that connector is left out)
            "test.toml:27:21", // unknown connector
            "test.toml:31:1",  // unknown key in a route (that route is left out)
        ],
        "{all:#?}"
    );
}

#[test]
fn connectors_without_routes_is_an_error() {
    assert_problem(CONNECTOR, "2:8", "no [[routes]] entry");
}

#[test]
fn password_needs_exactly_one_source() {
    assert_problem(
        "[[accounts]]\nsystem_id = \"a\"\n",
        "1:1",
        "account has no password",
    );
    assert_problem(
        "[[accounts]]\nsystem_id = \"a\"\npassword_hash = \"plain\"\n",
        "3:17",
        "not a PHC password hash",
    );
}

#[test]
fn other_value_checks() {
    let long_id =
        "[[accounts]]\nsystem_id = \"sixteen-chars-xx\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\n";
    assert_problem(long_id, "2:13", "1 to 15 printable ASCII");
    let reserved_id =
        "[[accounts]]\nsystem_id = \"~timers-1\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\n";
    assert_problem(reserved_id, "2:13", "must not start with `~`");
    let push_form_signed =
        format!("{ACCOUNT}push = {{ url = \"https://x\", signing_secret = \"whsec_AAAA\" }}\n");
    assert_problem(&push_form_signed, "4:46", "format = \"json\" only");
    let bad_npi = format!("{CONNECTOR}source_npi = 2\n{ROUTE}");
    assert_problem(&bad_npi, "6:14", "not an SMPP NPI");
    let bad_endpoint = "[[connectors]]\nname = \"c1\"\nendpoints = [\"nohost\"]\nsystem_id = \"x\"\npassword = \"p\"\n[[routes]]\nprefix = \"*\"\nconnectors = [\"c1\"]\n";
    assert_problem(bad_endpoint, "3:14", "must be host:port");
    let shared_mo = "[[accounts]]\nsystem_id = \"a\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\nmo_numbers = [\"123\"]\n\
                     [[accounts]]\nsystem_id = \"b\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\nmo_numbers = [\"123\"]\n";
    assert_problem(shared_mo, "8:15", "already claimed at line 4");
    assert_problem(
        "[store]\nkind = \"redis\"\n",
        "2:8",
        "needs a [store.redis] table",
    );
}

#[test]
fn smpp_windows_default_per_connector_and_account_and_are_checked() {
    let config = load(&format!("{ACCOUNT}{CONNECTOR}{ROUTE}")).unwrap();
    let account = config.account_by_system_id("a").unwrap();
    assert_eq!((account.window, account.inbound_window), (64, 128));
    let connector = config.connector("c1").unwrap();
    assert_eq!((connector.window, connector.inbound_window), (64, 128));

    let set = format!(
        "{ACCOUNT}window = 10\ninbound_window = 100\n{CONNECTOR}window = 20\ninbound_window = 300\n{ROUTE}"
    );
    let config = load(&set).unwrap();
    let account = config.account_by_system_id("a").unwrap();
    assert_eq!((account.window, account.inbound_window), (10, 100));
    let connector = config.connector("c1").unwrap();
    assert_eq!((connector.window, connector.inbound_window), (20, 300));

    let zero = format!("{ACCOUNT}inbound_window = 0\n");
    assert_problem(
        &zero,
        "4:18",
        "inbound_window must be between 1 and 4096, not 0",
    );
    let huge = format!("{CONNECTOR}inbound_window = 100000\n{ROUTE}");
    assert_problem(&huge, "6:18", "inbound_window must be between 1 and 4096");
    let zero_window = format!("{CONNECTOR}window = 0\n{ROUTE}");
    assert_problem(&zero_window, "6:10", "window must be between 1 and 4096");
    let wrong_type = format!("{ACCOUNT}window = \"wide\"\n");
    assert_problem(&wrong_type, "4:10", "");
}

#[test]
fn auth_settings_and_their_defaults() {
    let defaults = load("").unwrap().auth;
    assert_eq!(defaults.lockout.max_failures, 5);
    assert_eq!(defaults.lockout.duration, Duration::from_secs(60));
    assert_eq!(defaults.lockout.max_entries, 100_000);
    assert!(defaults.verifier_threads >= 1);
    assert_eq!(defaults.verifier_wait, Duration::from_millis(100));
    let auth = load(
        "[auth]\nlockout_failures = 3\nlockout_window = \"5m\"\nlockout_duration = \"2m\"\n\
         lockout_max_entries = 10\nverifier_threads = 4\nverifier_wait = \"0ms\"\n",
    )
    .unwrap()
    .auth;
    assert_eq!(auth.lockout.max_failures, 3);
    assert_eq!(auth.lockout.window, Duration::from_secs(300));
    assert_eq!(auth.lockout.duration, Duration::from_secs(120));
    assert_eq!(auth.lockout.max_entries, 10);
    assert_eq!(auth.verifier_threads, 4);
    assert_eq!(auth.verifier_wait, Duration::ZERO);
}

#[test]
fn auth_settings_are_checked_at_their_position() {
    assert_problem(
        "[auth]\nlockout_duration = \"10s\"\n",
        "2:20",
        "lockout_duration must be at least 30s",
    );
    assert_problem(
        "[auth]\nverifier_threads = 0\n",
        "2:20",
        "verifier_threads must be at least 1",
    );
    assert_problem(
        "[auth]\nlockout_failures = 0\n",
        "2:20",
        "lockout_failures must be at least 1",
    );
    assert_problem("[auth]\nlockout = 5\n", "2:1", "unknown field `lockout`");
}

/// An argon2id hash of "ops-pass" (any valid PHC string would do).
fn admin_hash() -> String {
    smsgw::credentials::hash_password("ops-pass")
}

#[test]
fn admin_listener_defaults_to_loopback_without_users() {
    for config in [Config::default(), load("").unwrap()] {
        assert_eq!(config.admin.listen.to_string(), "127.0.0.1:8090");
        assert!(config.admin.users.is_empty() && config.admin.tls.is_none());
    }
    let hash = admin_hash();
    let config = load(&format!(
        "[admin]\nlisten = \"0.0.0.0:9090\"\n\n[[admin.users]]\nname = \"prom\"\n\
         password_hash = \"{hash}\"\nrole = \"read\"\n\n[[admin.users]]\nname = \"ops\"\n\
         password_hash = \"{hash}\"\nrole = \"admin\"\n"
    ))
    .unwrap();
    assert_eq!(config.admin.listen.to_string(), "0.0.0.0:9090");
    let users: Vec<(&str, AdminRole)> = config
        .admin
        .users
        .iter()
        .map(|user| (user.name.as_str(), user.role))
        .collect();
    assert_eq!(
        users,
        [("prom", AdminRole::Read), ("ops", AdminRole::Admin)]
    );
}

#[test]
fn an_admin_listener_others_can_reach_needs_users() {
    assert_problem(
        "node_id = \"n\"\n[admin]\nlisten = \"0.0.0.0:8090\"\n",
        "3:10",
        "not a loopback address, and [admin] has no users",
    );
    assert!(load("[admin]\nlisten = \"[::1]:8090\"\n").is_ok());
}

#[test]
fn admin_users_are_checked_at_their_position() {
    let hash = admin_hash();
    assert_problem(
        &format!(
            "[admin]\n[[admin.users]]\nname = \"x\"\npassword_hash = \"{hash}\"\nrole = \"root\"\n"
        ),
        "5:8",
        "role \"root\" is not one of \"read\", \"admin\"",
    );
    assert_problem(
        "[admin]\n[[admin.users]]\nname = \"x\"\npassword_hash = \"plain\"\nrole = \"read\"\n",
        "4:17",
        "not a PHC password hash",
    );
    assert_problem(
        "[admin]\ncert = \"a.pem\"\n",
        "2:8",
        "needs both cert and key",
    );
}

#[test]
fn redis_store_and_simulator_settings() {
    let config = load(
        "[store]\nkind = \"redis\"\n[store.redis]\nurl = \"redis://10.0.0.5:6379\"\nwait_replicas = 1\nlease = \"20s\"\n\
         [simulator]\nenabled = true\ndr_delay = \"1s\"\n",
    )
    .unwrap();
    assert_eq!(
        config.store,
        StoreConfig::Redis {
            url: Secret::new("redis://10.0.0.5:6379"),
            sentinel: None,
            wait_replicas: 1,
            key_prefix: "smsgw:".into(),
            lease: Duration::from_secs(20),
            tls: StoreTls::default(),
        }
    );
    assert_eq!(
        config.builtin_simulator.unwrap().dr_delay,
        Duration::from_secs(1)
    );
}

#[test]
fn redis_store_behind_sentinels() {
    let config = load(
        "[store]\nkind = \"redis\"\n[store.redis]\nsentinels = [\"redis://:spw@10.0.0.7:26379\", \"redis://:spw@10.0.1.7:26379\"]\n\
         master_name = \"smsgw\"\nurl = \"redis://:pw@primary/2\"\n",
    )
    .unwrap();
    let StoreConfig::Redis { url, sentinel, .. } = config.store else {
        panic!("{:?}", config.store)
    };
    assert_eq!(url, Secret::new("redis://:pw@primary/2"));
    assert_eq!(
        sentinel,
        Some(RedisSentinel {
            addresses: vec![
                Secret::new("redis://:spw@10.0.0.7:26379"),
                Secret::new("redis://:spw@10.0.1.7:26379")
            ],
            master_name: "smsgw".into(),
        })
    );
    // Without url the primary needs no password.
    load("[store]\nkind = \"redis\"\n[store.redis]\nsentinels = [\"s1:26379\"]\nmaster_name = \"m\"\n")
        .unwrap();
    let redis = "[store]\nkind = \"redis\"\n[store.redis]\n";
    assert_problem(
        &format!("{redis}sentinels = [\"s1:26379\"]\n"),
        "3:1",
        "master_name is missing",
    );
    assert_problem(
        &format!("{redis}sentinels = [\"s1\"]\nmaster_name = \"m\"\n"),
        "4:14",
        "sentinel \"s1\" must be host:port",
    );
    assert_problem(
        &format!("{redis}master_name = \"m\"\nurl = \"redis://r\"\n"),
        "4:15",
        "master_name needs sentinels",
    );
    // TLS to the primary is allowed now; other schemes are not.
    load(&format!(
        "{redis}sentinels = [\"s1:26379\"]\nmaster_name = \"m\"\nurl = \"rediss://:pw@r\"\n"
    ))
    .unwrap();
    assert_problem(
        &format!(
            "{redis}sentinels = [\"s1:26379\"]\nmaster_name = \"m\"\nurl = \"unix:///r.sock\"\n"
        ),
        "6:7",
        "or rediss:// for TLS to the primary",
    );
    assert_problem(
        &format!("{redis}sentinels = [\"rediss://s1:26379\", \"s2:26379\"]\nmaster_name = \"m\"\n"),
        "4:35",
        "all sentinels use TLS (rediss://) or none does",
    );
    assert_problem(
        &format!("{redis}sentinels = [\"redis://:a@s1:26379\", \"redis://:b@s2:26379\"]\nmaster_name = \"m\"\n"),
        "4:37",
        "all sentinels must have the same user and password",
    );
}

#[test]
fn redis_store_tls_certificates() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["ca.pem", "client.pem", "client.key"] {
        std::fs::write(dir.path().join(file), "").unwrap();
    }
    let path = |file: &str| dir.path().join(file);
    let redis = format!(
        "[store]\nkind = \"redis\"\n[store.redis]\ntls_ca = \"{}\"\n",
        path("ca.pem").display()
    );
    let client = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        path("client.pem").display(),
        path("client.key").display()
    );
    let tls = |config: Config| match config.store {
        StoreConfig::Redis { tls, .. } => tls,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        tls(load(&format!("{redis}{client}url = \"rediss://:pw@r:6380/0\"\n")).unwrap()),
        StoreTls {
            ca: Some(path("ca.pem")),
            client: Some((path("client.pem"), path("client.key"))),
        }
    );
    // With Sentinels: TLS to the Sentinels (and so to the primary), or to the primary only.
    for sentinels in [
        "sentinels = [\"rediss://s1:26379\"]\nmaster_name = \"m\"\n",
        "sentinels = [\"s1:26379\"]\nmaster_name = \"m\"\nurl = \"rediss://:pw@primary\"\n",
    ] {
        assert_eq!(
            tls(load(&format!("{redis}{sentinels}")).unwrap()).ca,
            Some(path("ca.pem"))
        );
    }
    // Certificates where nothing uses TLS would be ignored: refused.
    assert_problem(
        &format!("{redis}url = \"redis://r\"\n"),
        "4:10",
        "no store connection uses TLS",
    );
    assert_problem(
        &format!("{redis}url = \"rediss://r\"\ntls_cert = \"client.pem\"\n"),
        "6:12",
        "tls_cert and tls_key go together",
    );
    assert_problem(
        "[store]\nkind = \"redis\"\n[store.redis]\nurl = \"rediss://r\"\ntls_ca = \"/nonexistent/ca.pem\"\n",
        "5:10",
        "CA certificate file /nonexistent/ca.pem does not exist",
    );
}

#[test]
fn nats_store_settings() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["ca.pem", "client.pem", "client.key"] {
        std::fs::write(dir.path().join(file), "").unwrap();
    }
    let path = |file: &str| dir.path().join(file);
    let config = load(&format!(
        "[store]\nkind = \"nats\"\n[store.nats]\n\
         servers = [\"tls://10.0.1.5:4222\", \"tls://10.0.2.5:4222\", \"tls://10.0.3.5:4222\"]\n\
         namespace = \"prod-eu\"\nlease = \"45s\"\nuser = \"smsgw\"\n\
         password_env = \"SMSGW_PRIMARY_PASSWORD\"\ntls_ca = \"{}\"\n\
         tls_cert = \"{}\"\ntls_key = \"{}\"\n",
        path("ca.pem").display(),
        path("client.pem").display(),
        path("client.key").display()
    ))
    .unwrap();
    assert_eq!(
        config.store,
        StoreConfig::Nats {
            servers: vec![
                "tls://10.0.1.5:4222".into(),
                "tls://10.0.2.5:4222".into(),
                "tls://10.0.3.5:4222".into()
            ],
            namespace: "prod-eu".into(),
            replicas: 3,
            shards: 1,
            pinned: Default::default(),
            lease: Duration::from_secs(45),
            credentials: Some(("smsgw".into(), Secret::new("prim-pw"))),
            tls: StoreTls {
                ca: Some(path("ca.pem")),
                client: Some((path("client.pem"), path("client.key"))),
            },
        }
    );
    // One server, one copy, the default namespace; no credentials, no TLS.
    let single = load("[store]\nkind = \"nats\"\n[store.nats]\nservers = [\"nats://127.0.0.1:4222\"]\nreplicas = 1\n")
        .unwrap();
    assert_eq!(
        single.store,
        StoreConfig::Nats {
            servers: vec!["nats://127.0.0.1:4222".into()],
            namespace: "smsgw".into(),
            replicas: 1,
            shards: 1,
            pinned: Default::default(),
            lease: Duration::from_secs(60),
            credentials: None,
            tls: StoreTls::default(),
        }
    );
    // Three shards, one connector pinned to the last.
    let sharded = load(&format!(
        "[store]\nkind = \"nats\"\n[store.nats]\nservers = [\"nats://n1:4222\"]\n\
         shards = 3\npinned = {{ c1 = 2 }}\n{CONNECTOR}{ROUTE}"
    ))
    .unwrap();
    let StoreConfig::Nats { shards, pinned, .. } = sharded.store else {
        panic!("{:?}", sharded.store)
    };
    assert_eq!((shards, pinned), (3, [("c1".to_owned(), 2)].into()));
}

#[test]
fn nats_store_settings_are_checked() {
    let nats = "[store]\nkind = \"nats\"\n[store.nats]\n";
    let servers = "servers = [\"nats://n1:4222\"]\n";
    assert_problem(
        "[store]\nkind = \"nats\"\n",
        "2:8",
        "needs a [store.nats] table with servers",
    );
    assert_problem(
        &format!("{nats}namespace = \"x\"\n"),
        "3:1",
        "missing servers",
    );
    assert_problem(
        &format!("{nats}servers = []\n"),
        "4:11",
        "at least one NATS server",
    );
    for bad in [
        "n1:4222",
        "nats://n1",
        "redis://n1:4222",
        "nats://u:p@n1:4222",
    ] {
        assert_problem(
            &format!("{nats}servers = [\"{bad}\"]\n"),
            "4:12",
            "must be nats://host:port or tls://host:port",
        );
    }
    assert_problem(
        &format!("{nats}{servers}namespace = \"a.b\"\n"),
        "5:13",
        "letters, digits, '-' and '_' only",
    );
    for shards in ["0", "65"] {
        assert_problem(
            &format!("{nats}{servers}shards = {shards}\n"),
            "5:10",
            "shards must be 1 to 64",
        );
    }
    assert_problem(
        &format!("{nats}{servers}shards = 2\npinned = {{ c1 = 2 }}\n{CONNECTOR}{ROUTE}"),
        "6:17",
        "connector \"c1\" is pinned to shard 2, but shards are 0 to 1",
    );
    assert_problem(
        &format!("{nats}{servers}shards = 2\npinned = {{ c9 = 1 }}\n{CONNECTOR}{ROUTE}"),
        "6:17",
        "pinned names \"c9\", which is not a [[connectors]] name",
    );
    for replicas in ["0", "6"] {
        assert_problem(
            &format!("{nats}{servers}replicas = {replicas}\n"),
            "5:12",
            "replicas must be 1 to 5",
        );
    }
    assert_problem(
        &format!("{nats}{servers}password = \"pw\"\n"),
        "5:12",
        "a password needs its user",
    );
    assert_problem(
        &format!("{nats}{servers}user = \"smsgw\"\n"),
        "5:8",
        "missing password (or password_env)",
    );
    assert_problem(
        &format!(
            "{nats}{servers}tls_ca = \"{}/Cargo.toml\"\n",
            env!("CARGO_MANIFEST_DIR")
        ),
        "5:10",
        "no store connection uses TLS: write servers as tls://host:port",
    );
    assert_problem(
        &format!("[store.nats]\n{servers}"),
        "1:1",
        "[store.nats] is set but [store] has no kind: add kind = \"nats\"",
    );
}

const ROUTING: &str = r#"
[[accounts]]
system_id = "alice"
password_env = "SMSGW_TEST_PASSWORD"
[[accounts]]
system_id = "bob"
http_login = "bob-http"
password_env = "SMSGW_TEST_PASSWORD"
[[connectors]]
name = "world"
endpoints = ["w:1"]
system_id = "x"
password = "p"
[[connectors]]
name = "uk"
endpoints = ["u:1"]
system_id = "x"
password = "p"
[[connectors]]
name = "uk-mobile"
endpoints = ["m:1"]
system_id = "x"
password = "p"
[[connectors]]
name = "vf"
endpoints = ["v:1"]
system_id = "x"
password = "p"
[[routes]]
prefix = "*"
connectors = ["world"]
[[routes]]
prefix = "44"
connectors = ["uk", "world"]
[[routes]]
prefix = "447"
connectors = ["uk-mobile", "uk"]
[[routes]]
prefix = "44"
carrier = "Vodafone"
connectors = ["vf"]
[[routes]]
prefix = "4"
account = "alice"
connectors = ["world"]
"#;

#[test]
fn route_longest_prefix_wins() {
    let config = load(ROUTING).unwrap();
    assert_eq!(config.route("bob", "12025550100", None).unwrap(), ["world"]);
    assert_eq!(
        config.route("bob", "442071234567", None).unwrap(),
        ["uk", "world"]
    );
    assert_eq!(
        config.route("bob", "447700900123", None).unwrap(),
        ["uk-mobile", "uk"]
    );
    assert_eq!(
        config.route("bob", "+447700900123", None).unwrap(),
        ["uk-mobile", "uk"]
    );
}

#[test]
fn route_account_specific_before_global() {
    let config = load(ROUTING).unwrap();
    // alice's own "4" route beats the longer global "447".
    assert_eq!(
        config.route("alice", "447700900123", None).unwrap(),
        ["world"]
    );
    // ...but only for destinations it matches.
    assert_eq!(
        config.route("alice", "12025550100", None).unwrap(),
        ["world"]
    );
}

#[test]
fn route_carrier_must_match_when_given() {
    let config = load(ROUTING).unwrap();
    assert_eq!(
        config
            .route("bob", "447700900123", Some("vodafone"))
            .unwrap(),
        ["vf"]
    );
    assert_eq!(
        config
            .route("bob", "447700900123", Some("Vodafone"))
            .unwrap(),
        ["vf"]
    );
    assert_eq!(config.route("bob", "12025550100", Some("Vodafone")), None);
    assert_eq!(config.route("bob", "447700900123", Some("unknown")), None);
}

#[test]
fn route_with_no_match_is_none() {
    let text = format!("{CONNECTOR}[[routes]]\nprefix = \"44\"\nconnectors = [\"c1\"]\n");
    let config = load(&text).unwrap();
    assert_eq!(config.route("a", "12025550100", None), None);
    assert_eq!(config.route("a", "4420", None).unwrap(), ["c1"]);
}

#[test]
fn lookups_by_login() {
    let config = load(ROUTING).unwrap();
    assert_eq!(
        config.account_by_http_login("bob-http").unwrap().system_id,
        "bob"
    );
    assert!(config.account_by_http_login("bob").is_none());
    assert_eq!(
        config.account_by_system_id("bob").unwrap().http_login,
        "bob-http"
    );
    assert!(config.account_by_system_id("carol").is_none());
}

#[test]
fn mo_owner_exact_beats_longest_prefix() {
    let text = "[[accounts]]\nsystem_id = \"wide\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\nmo_numbers = [\"883*\"]\n\
                [[accounts]]\nsystem_id = \"narrow\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\nmo_numbers = [\"88300*\"]\n\
                [[accounts]]\nsystem_id = \"exact\"\npassword_env = \"SMSGW_TEST_PASSWORD\"\nmo_numbers = [\"8830012\", \"8831\"]\n";
    let config = load(text).unwrap();
    let owner = |number: &str| config.mo_account(number).map(|a| a.system_id.clone());
    assert_eq!(owner("8830012").as_deref(), Some("exact"));
    assert_eq!(owner("88300123").as_deref(), Some("narrow"));
    assert_eq!(owner("8830099").as_deref(), Some("narrow"));
    assert_eq!(owner("88399").as_deref(), Some("wide"));
    assert_eq!(owner("8831").as_deref(), Some("exact"));
    assert_eq!(owner("88311").as_deref(), Some("wide"));
    assert_eq!(owner("12345"), None);
}

#[test]
fn sender_wildcards() {
    let text = format!("{ACCOUNT}allowed_senders = [\"ACME\", \"44770*\"]\n");
    let config = load(&text).unwrap();
    let account = config.account_by_system_id("a").unwrap();
    assert!(account.sender_allowed("ACME"));
    assert!(!account.sender_allowed("ACME2"));
    assert!(!account.sender_allowed("acme"));
    assert!(account.sender_allowed("447700900123"));
    assert!(account.sender_allowed("44770"));
    assert!(!account.sender_allowed("4477"));
    let any = load(ACCOUNT).unwrap();
    assert!(any
        .account_by_system_id("a")
        .unwrap()
        .sender_allowed("anything"));
    assert_problem(
        &format!("{ACCOUNT}allowed_senders = [\"A*B\"]\n"),
        "4:20",
        "only allowed at the end",
    );
}

#[test]
fn unreadable_file_is_reported_without_position() {
    let errors = Config::load("/nonexistent/smsgw.toml").unwrap_err();
    let shown = errors.to_string();
    assert!(
        shown.starts_with("/nonexistent/smsgw.toml: cannot read the config file"),
        "{shown}"
    );
}

#[test]
fn connector_tls_forms_and_numbering() {
    let with = |extra: &str| format!("{CONNECTOR}{extra}\n{ROUTE}");
    let config = load(&with("tls = true\nsource_ton = 3\nsource_npi = 0")).unwrap();
    let connector = config.connector("c1").unwrap();
    assert_eq!(connector.tls.as_ref().map(|tls| tls.ca.clone()), Some(None));
    assert_eq!(connector.source_ton_npi("ACME"), (3, 0));
    assert_eq!(connector.dest_ton_npi(), (1, 1));
    assert!(load(&with("tls = false"))
        .unwrap()
        .connector("c1")
        .unwrap()
        .tls
        .is_none());
    assert_problem(
        &with("tls = { ca = \"no-such-ca.pem\" }"),
        "6:14",
        "CA certificate file",
    );
    assert_problem(
        &with("tls = { cafile = \"x\" }"),
        "6:9",
        "unknown field `cafile`",
    );
    assert_problem(&with("dest_ton = 7"), "6:12", "not an SMPP TON");
}

#[test]
fn push_settings_default_and_can_be_set() {
    let defaults = load(&format!(
        "{ACCOUNT}push = {{ url = \"https://app.example/cb\" }}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let push = defaults.accounts()[0].push.clone().unwrap();
    assert_eq!(push.concurrency, 128);
    assert_eq!(
        push.max_idle_connections, 128,
        "one idle connection per slot"
    );
    assert_eq!(push.idle_timeout, Duration::from_secs(90));
    assert_eq!(push.timeout, Duration::from_secs(15));
    assert_eq!(push.connect_timeout, Duration::from_secs(5));
    assert!(push.allow_private_targets.is_empty());

    let set = load(&format!(
        "[push]\nallow_private_targets = [\"10.0.0.0/8\"]\n{ACCOUNT}[accounts.push]\n\
         url = \"http://10.1.2.3:8080/cb\"\nconcurrency = 8\nmax_idle_connections = 2\n\
         idle_timeout = \"5s\"\ntimeout = \"2s\"\nconnect_timeout = \"500ms\"\n\
         allow_private_targets = [\"fd00::/8\", \"127.0.0.1\"]\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let push = set.accounts()[0].push.clone().unwrap();
    assert_eq!(
        (push.concurrency, push.max_idle_connections),
        (8, 2),
        "{push:?}"
    );
    assert_eq!(push.idle_timeout, Duration::from_secs(5));
    assert_eq!(push.timeout, Duration::from_secs(2));
    assert_eq!(push.connect_timeout, Duration::from_millis(500));
    let allowed: Vec<String> = push
        .allow_private_targets
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(allowed, ["fd00::/8", "127.0.0.1/32", "10.0.0.0/8"]);
}

#[test]
fn push_urls_to_internal_ip_literals_are_refused_at_load_unless_allowed() {
    let with_url =
        |url: &str, extra: &str| format!("{ACCOUNT}push = {{ url = \"{url}\"{extra} }}\n");
    for (url, needle) in [
        (
            "http://127.0.0.1:9000/cb",
            "127.0.0.1 is a loopback address",
        ),
        ("http://[fd12::1]/cb", "fd12::1 is a unique local address"),
        ("https://169.254.169.254/latest", "link-local"),
        ("http://[::ffff:10.0.0.1]/cb", "private"),
    ] {
        assert_problem(&with_url(url, ""), "4:16", needle);
    }
    // Allowed by the account's list or the global one; names are checked when pushing.
    for allowed in [
        with_url(
            "http://127.0.0.1:9000/cb",
            ", allow_private_targets = [\"127.0.0.0/8\"]",
        ),
        format!(
            "[push]\nallow_private_targets = [\"fd12::/16\"]\n{}",
            with_url("http://[fd12::1]/cb", "")
        ),
        with_url("http://localhost:9000/cb", ""),
        with_url("https://93.184.216.34/cb", ""),
    ] {
        load(&allowed).unwrap_or_else(|e| panic!("{allowed}: {e}"));
    }
    assert_problem(
        &with_url(
            "https://app.example/cb",
            ", allow_private_targets = [\"10.0.0.0/33\"]",
        ),
        "4:67",
        "\"10.0.0.0/33\" is not a network",
    );
    assert_problem(
        &with_url("ftp://user:pw@x/", ""),
        "4:16",
        "must be an absolute URL starting with http:// or https://",
    );
    assert_problem(
        &format!("{ACCOUNT}push = {{ url = \"https://x\", concurrency = 0 }}\n"),
        "4:43",
        "concurrency must be at least 1",
    );
    assert_problem(
        &format!("{ACCOUNT}push = {{ url = \"https://x\", concurrency = 5000 }}\n"),
        "4:43",
        "concurrency must be at most 4096",
    );
}

#[test]
fn debug_output_of_the_config_hides_push_url_credentials() {
    let config = load(&format!(
        "{ACCOUNT}push = {{ url = \"https://user:pa55w0rd@app.example/cb?token=t0k3n&x=1\" }}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("pa55w0rd") && !shown.contains("t0k3n"),
        "{shown}"
    );
    assert!(shown.contains("app.example/cb?token=***&x=***"), "{shown}");
    // The value itself is intact for the code that pushes.
    let url = &config.accounts()[0].push.as_ref().unwrap().url;
    assert!(url.contains("pa55w0rd") && url.contains("t0k3n"));
}

#[test]
fn a_push_timeout_must_end_well_within_the_redis_lease() {
    let redis = "[store]\nkind = \"redis\"\n[store.redis]\nurl = \"redis://h\"\nlease = \"20s\"\n";
    assert_problem(
        &format!("{redis}{ACCOUNT}push = {{ url = \"https://x\", timeout = \"10s\" }}\n"),
        "9:39",
        "push timeout (10s) must be under half the shared store's lease (20s)",
    );
    // The default 15 s too, pointing at the push table.
    assert_problem(
        &format!("{redis}{ACCOUNT}push = {{ url = \"https://x\" }}\n"),
        "9:8",
        "push timeout (15s)",
    );
    load(&format!(
        "{redis}{ACCOUNT}push = {{ url = \"https://x\", timeout = \"9s\" }}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    // The embedded store has no lease.
    load(&format!(
        "{ACCOUNT}push = {{ url = \"https://x\", timeout = \"10m\" }}\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn validity_and_dr_timeout_are_durations_and_dr_timeout_may_be_off() {
    let config = load(&format!(
        "{ACCOUNT}validity = \"48h\"\ndr_timeout = \"off\"\n{CONNECTOR}{ROUTE}"
    ))
    .unwrap();
    let account = config.account_by_system_id("a").unwrap();
    assert_eq!(account.validity, Some(Duration::from_secs(48 * 3600)));
    assert_eq!(account.dr_timeout, Some(Duration::ZERO), "off");
    let connector = config.connector("c1").unwrap();
    assert_eq!(
        connector.dr_timeout,
        Duration::from_secs(48 * 3600),
        "the default"
    );
    let config = load(&format!(
        "{ACCOUNT}{CONNECTOR}dr_timeout = \"off\"\n{ROUTE}"
    ))
    .unwrap();
    assert_eq!(config.connector("c1").unwrap().dr_timeout, Duration::ZERO);
    let config = load(ACCOUNT).unwrap();
    let account = config.account_by_system_id("a").unwrap();
    assert_eq!((account.validity, account.dr_timeout), (None, None));
    assert_problem(
        &format!("{ACCOUNT}dr_timeout = \"soon\"\n"),
        "4:14",
        "invalid duration \"soon\"",
    );
    assert_problem(
        &format!("{ACCOUNT}validity = \"0s\"\n"),
        "4:12",
        "validity must be at least 1s",
    );
}

#[test]
fn the_event_log_has_contact_centre_defaults_and_checked_sinks() {
    let config = Config::from_str_named("", "test.toml").unwrap();
    assert!(config.events.sinks.is_empty(), "no event log by default");
    assert_eq!(config.events.batch_size, 500);
    assert_eq!(config.events.storing_timeout, Duration::from_millis(1000));
    assert_eq!(config.events.max_queue_size, 20_000);

    let text = "[events]\nbatch_size = 100\nstoring_timeout = \"250ms\"\n\
                [[events.sinks]]\nkind = \"postgres\"\nurl = \"postgres://u:pw@db/smsgw\"\n\
                [[events.sinks]]\nkind = \"file\"\npath = \"events.ndjson\"\nkinds = [\"final\"]\n\
                accounts = [\"acme\"]\n";
    let config = Config::from_str_named(text, "/etc/smsgw/test.toml").unwrap();
    assert_eq!(config.events.batch_size, 100);
    assert_eq!(config.events.storing_timeout, Duration::from_millis(250));
    let names: Vec<&str> = config
        .events
        .sinks
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["postgres-1", "file-2"]);
    assert!(
        !format!("{:?}", config.events).contains("pw@"),
        "the database password stays out of Debug output"
    );
    let filter = config.events.filter();
    assert!(filter.kinds.is_none(), "the postgres sink keeps every kind");

    assert_problem(
        "[events]\n[[events.sinks]]\nkind = \"kafka\"\n",
        "3:8",
        "unknown sink kind \"kafka\"",
    );
    assert_problem(
        "[events]\n[[events.sinks]]\nkind = \"file\"\npath = \"e\"\nkinds = [\"sent\"]\n",
        "5:10",
        "unknown event kind \"sent\"",
    );
    assert_problem(
        "[events]\nbatch_size = 0\n",
        "2:14",
        "batch_size must be at least 1",
    );
    assert_problem(
        "[events]\nbatch_size = 100\nmax_queue_size = 10\n",
        "3:18",
        "must be at least batch_size",
    );
}
