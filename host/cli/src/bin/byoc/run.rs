//! `byoc run`: run a `wasi:cli` command component whose `wasi:keyvalue` buckets are the
//! configuration's caches (`keyvalue: { buckets: { ... } }`).

use crate::{Failure, exit};
use anyhow::anyhow;
use byoc::{Caches, ConfigFile, Registry};
use byoc_keyvalue::Buckets;
use byoc_keyvalue::app::{App, RunOptions};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `run`.
#[derive(Args)]
pub struct RunArgs {
    /// The application: a `wasi:cli` command component (`.wasm`).
    app: PathBuf,
    /// Arguments for the application (after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub async fn run(config: &Path, args: RunArgs) -> Result<(), Failure> {
    let bytes = byoc::wasm::read_component_file(&args.app)?;
    let app = App::load(&bytes).map_err(|e| Failure::new(exit::CONFIG, e.into()))?;
    // The caches are opened only for an application that can use them.
    let buckets = if app.keyvalue_imports().is_empty() {
        Buckets::new()
    } else {
        let file = ConfigFile::load(config)?;
        if file.keyvalue.buckets.is_empty() {
            return Err(Failure::new(
                exit::CONFIG,
                anyhow!(
                    "{}: the application imports wasi:keyvalue, but the configuration maps \
                     no bucket (keyvalue: {{ buckets: {{ <bucket>: <cache> }} }})",
                    config.display()
                ),
            ));
        }
        let caches = Caches::open(&file, Registry::new()?).await?;
        Buckets::from_caches(&caches, &file.keyvalue)
            .map_err(|e| Failure::new(exit::CONFIG, e.into()))?
    };
    let name = args.app.display().to_string();
    let options = RunOptions::default().args(std::iter::once(name).chain(args.args));
    let outcome = app
        .run(buckets, &options)
        .await
        .map_err(|e| Failure::new(exit::FAILED, e.into()))?;
    match outcome.exit_code {
        0 => Ok(()),
        code => Err(Failure::new(
            u8::try_from(code).unwrap_or(exit::FAILED),
            anyhow!("the application exited with code {code}"),
        )),
    }
}
