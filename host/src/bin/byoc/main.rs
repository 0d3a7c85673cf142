//! The `byoc` command line.

mod demo;
mod serve;

use std::process::ExitCode;

const USAGE: &str = "\
byoc — Bring Your Own Cache

USAGE:
    byoc demo      Run the end-to-end demo on the embedded memory adapter
    byoc serve     Serve a cache over the HTTP cache protocol (byoc serve --help)
    byoc --help    Show this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(command @ ("demo" | "serve")) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let outcome = if command == "demo" {
                runtime.block_on(demo::run())
            } else {
                runtime.block_on(serve::run(&args[1..]))
            };
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("error: unknown command `{other}`\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
