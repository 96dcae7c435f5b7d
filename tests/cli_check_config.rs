//! `smsgw check-config` and `serve` on a bad file: every problem with file, line and column,
//! a non-zero exit, and `serve` refusing to start.

use std::process::Command;

fn smsgw(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(args)
        .env("RUST_LOG", "off")
        .output()
        .expect("run smsgw")
}

#[test]
fn check_config_reports_every_problem_with_its_line_and_serve_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "site = \"a\"\n[listeners]\nsmpp = \"not-an-address\"\n\n[[routes]]\nprefix = \"*\"\nconnectors = [\"nowhere\"]\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let checked = smsgw(&["check-config", file]);
    assert!(!checked.status.success());
    let errors = String::from_utf8_lossy(&checked.stderr);
    assert!(errors.contains(&format!("{file}:3:")), "{errors}");
    assert!(
        errors.contains(&format!("{file}:7:")) && errors.contains("nowhere"),
        "{errors}"
    );

    let served = smsgw(&["serve", "--config", file]);
    assert!(!served.status.success());
    assert!(String::from_utf8_lossy(&served.stderr).contains("refusing to start"));
}

#[test]
fn the_example_config_checks_out_once_its_secrets_are_in_the_environment() {
    let example = format!(
        "{}/deploy/smsgw.example.toml",
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())
    );
    let checked = Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(["check-config", &example])
        .env(
            "SMSGW_ACME_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .env("SMSGW_BULKCO_PASSWORD", "bulkpass")
        .env("SMSGW_PRIMARY_PASSWORD", "carrier1")
        .env("SMSGW_PROMETHEUS_PASSWORD", "prom-pass")
        .env("SMSGW_OPS_PASSWORD", "ops-pass")
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(String::from_utf8_lossy(&checked.stdout).contains("OK"));
}
