//! A writer for the filesystem crash test: stores generation after generation of large
//! values under a few keys through the `filesystem` provider, until it is killed.
//!
//! Usage: `fs_writer <dir> <keys> <value-bytes>`. Prints `ready` once the first
//! generation is stored. Every value is `value-bytes` copies of one byte (the generation
//! modulo 251, never 0), so a torn value is visible as mixed bytes or a wrong length.

use byoc::{AdapterConfig, ConfigValue, Registry};
use std::io::Write;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, keys, size] = args.as_slice() else {
        anyhow::bail!("usage: fs_writer <dir> <keys> <value-bytes>");
    };
    let keys: usize = keys.parse()?;
    let size: usize = size.parse()?;
    let provider = Registry::new()?
        .create(
            "filesystem",
            AdapterConfig::new().with("dir", ConfigValue::Text(dir.clone())),
        )
        .await?;
    let mut generation: u64 = 0;
    loop {
        generation += 1;
        let byte = u8::try_from(generation % 250 + 1)?;
        let value = vec![byte; size];
        for k in 0..keys {
            provider.set(&format!("key-{k}"), &value, None).await?;
        }
        if generation == 1 {
            println!("ready");
            std::io::stdout().flush()?;
        }
    }
}
