//! `smsgw check-config FILE` and `smsgw hash-password`.

use std::path::PathBuf;

use clap::Args;
use smsgw::{config::Config, credentials::hash_password};

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The TOML file to check.
    pub file: PathBuf,
}

/// Prints every problem as FILE:LINE:COLUMN: what is wrong; fails if there is any.
pub fn run(args: CheckConfigArgs) -> anyhow::Result<()> {
    match Config::load(&args.file) {
        Ok(config) => {
            println!(
                "{}: OK ({} accounts, {} connectors, {} routes)",
                args.file.display(),
                config.accounts().len(),
                config.connectors().len(),
                config.routes().len()
            );
            Ok(())
        }
        Err(errors) => {
            eprintln!("{errors}");
            anyhow::bail!("{}: {} problem(s)", args.file.display(), errors.len())
        }
    }
}

#[derive(Debug, Args)]
pub struct HashPasswordArgs {
    /// The password; read from the SMSGW_PASSWORD environment variable when omitted, so it
    /// stays out of shell history.
    #[arg(env = "SMSGW_PASSWORD", hide_env_values = true)]
    pub password: String,
}

/// Prints the argon2id hash to put in an account's `password_hash`.
pub fn hash(args: HashPasswordArgs) -> anyhow::Result<()> {
    println!("{}", hash_password(&args.password));
    Ok(())
}
