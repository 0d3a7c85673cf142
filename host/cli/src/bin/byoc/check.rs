//! `byoc check`: validate a configuration and print its resolved stacks.

use crate::Failure;
use byoc::{Caches, ConfigFile, Registry};
use std::path::Path;

pub async fn run(config: &Path) -> Result<(), Failure> {
    let file = ConfigFile::load(config)?;
    print!("{}", file.describe());
    // Build every cache: provider schemas, grants and components are checked here.
    let caches = Caches::open(&file, Registry::new()?).await?;
    for name in caches.names() {
        let provider = caches.provider(&name)?;
        let info = provider.info();
        match provider.ping().await {
            Ok(()) => println!("ok   {name}: {} (contract {})", info.stack(), info.contract),
            Err(e) => {
                println!("FAIL {name}: {} — ping failed: {e}", info.stack());
                return Err(anyhow::anyhow!("cache `{name}` does not answer: {e}").into());
            }
        }
    }
    println!("{}: {} cache(s) ok", config.display(), caches.names().len());
    Ok(())
}
