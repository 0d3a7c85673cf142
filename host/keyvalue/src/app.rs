//! Running a `wasi:cli` command component whose `wasi:keyvalue` buckets are caches.
//!
//! The application gets its arguments, stdio (inherited or captured), clocks and
//! randomness, and the buckets it is given; no network. Nothing else unless granted
//! ([`RunOptions::grants`], for an application composed with an adapter that needs them):
//! the grants' directories, their Redis server under its namespace (the host's
//! `byoc:cache/redis` import), and the environment variables of [`RunOptions::env`].
//! A component that imports `byoc:cache/redis` without a Redis grant is refused before
//! it starts ([`Error::Denied`]). Its memory is bounded ([`RunOptions::max_memory`]).

use crate::{Buckets, Error, KeyValue, KeyValueCtx};
use byoc::Grants;
use byoc::redis::{RedisSlot, WithRedis};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Default [`RunOptions::max_memory`]: 256 MiB.
pub const DEFAULT_MAX_MEMORY: usize = 256 << 20;

/// Most bytes of stdout or stderr kept when output is captured.
const CAPTURE_LIMIT: usize = 1 << 20;

/// The interface prefix of `wasi:keyvalue`.
const KEYVALUE: &str = "wasi:keyvalue/";

/// The host's Redis import, which a component composed with the Redis adapter imports.
const REDIS_IMPORT: &str = "byoc:cache/redis";

/// How to run an application.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// Its arguments, program name first.
    pub args: Vec<String>,
    /// Keep stdout and stderr in [`Outcome`] (at most 1 MiB each) instead of inheriting
    /// the host's.
    pub capture_output: bool,
    /// Most bytes of linear memory (all memories together) and table elements.
    pub max_memory: usize,
    /// What the component may reach beyond its buckets (default: nothing): the
    /// directories (preopened at their guest paths) and the Redis grant
    /// ([`WithRedis::with_redis`]). HTTP and TCP grants are not offered to applications
    /// (a run with one is refused).
    pub grants: Grants,
    /// Environment variables the component sees (default: none), such as the
    /// `BYOC_ADAPTER_<FIELD>` configuration of an adapter composed with the keyvalue shim.
    pub env: Vec<(String, String)>,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            args: vec!["app".into()],
            capture_output: false,
            max_memory: DEFAULT_MAX_MEMORY,
            grants: Grants::none(),
            env: Vec::new(),
        }
    }
}

impl RunOptions {
    /// These arguments (program name first).
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> RunOptions {
        self.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Captures stdout and stderr (at most 1 MiB each) instead of inheriting them.
    pub fn capture_output(mut self, capture: bool) -> RunOptions {
        self.capture_output = capture;
        self
    }

    /// Grants these capabilities (see [`RunOptions::grants`]).
    pub fn grants(mut self, grants: Grants) -> RunOptions {
        self.grants = grants;
        self
    }

    /// Adds the environment variable `name` = `value`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> RunOptions {
        self.env.push((name.into(), value.into()));
        self
    }
}

/// How an application ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// Its exit code: 0 for success, 1 when `run` returned an error, else what it passed
    /// to `exit`.
    pub exit_code: i32,
    /// Captured stdout (empty unless captured).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty unless captured).
    pub stderr: Vec<u8>,
}

/// A compiled command component, ready to run any number of times. Cheap to clone.
#[derive(Clone)]
pub struct App {
    engine: Engine,
    component: Component,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("imports", &self.imports())
            .finish_non_exhaustive()
    }
}

struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    keyvalue: KeyValueCtx,
    redis: RedisSlot,
    limits: StoreLimits,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl App {
    /// Compiles the component `bytes` (a binary component; WAT text is accepted too).
    pub fn load(bytes: &[u8]) -> Result<App, Error> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| Error::Load(format!("{e:#}")))?;
        let component =
            Component::new(&engine, bytes).map_err(|e| Error::Load(format!("{e:#}")))?;
        Ok(App { engine, component })
    }

    /// The names of everything the component imports.
    pub fn imports(&self) -> Vec<String> {
        self.component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The names of everything the component exports.
    pub fn exports(&self) -> Vec<String> {
        self.component
            .component_type()
            .exports(&self.engine)
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The `wasi:keyvalue` interfaces the component imports.
    pub fn keyvalue_imports(&self) -> Vec<String> {
        keyvalue_imports(&self.imports())
    }

    /// Whether the component imports the host's Redis (`byoc:cache/redis`), as one
    /// composed with the Redis adapter does: it runs only with a Redis grant.
    pub fn needs_redis(&self) -> bool {
        self.imports()
            .iter()
            .any(|i| unversioned(i) == REDIS_IMPORT)
    }

    /// Runs the component's `wasi:cli/run` with `buckets` and waits for it to end.
    ///
    /// A trap (or a failure to instantiate, such as an import the host does not offer)
    /// is an [`Error`]; an application that returns an error or calls `exit` ends with
    /// its [`Outcome::exit_code`].
    pub async fn run(&self, buckets: Buckets, options: &RunOptions) -> Result<Outcome, Error> {
        let grants = &options.grants;
        if grants.http.is_some() || grants.tcp.is_some() {
            return Err(Error::Denied(
                "HTTP and TCP grants are not offered to applications".into(),
            ));
        }
        if self.needs_redis() && !grants.has_redis() {
            return Err(Error::Denied(format!(
                "the component imports {REDIS_IMPORT} (it holds the Redis adapter) but has \
                 no Redis grant (`byoc run --redis URL --redis-namespace NS`)"
            )));
        }
        let mut linker = Linker::<State>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| Error::Load(format!("{e:#}")))?;
        crate::add_to_linker(&mut linker, |s: &mut State| {
            KeyValue::new(&s.keyvalue, &mut s.table)
        })
        .map_err(|e| Error::Load(format!("{e:#}")))?;
        // Always linked: without a grant the slot denies every call.
        byoc::redis::add_to_linker(&mut linker, |s: &mut State| &mut s.redis)
            .map_err(|e| Error::Load(format!("{e:#}")))?;

        let mut wasi = WasiCtxBuilder::new();
        wasi.args(&options.args)
            .envs(&options.env)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        grants
            .preopen_dirs(&mut wasi)
            .map_err(|e| Error::Load(e.to_string()))?;
        let captured = options.capture_output.then(|| {
            let out = MemoryOutputPipe::new(CAPTURE_LIMIT);
            let err = MemoryOutputPipe::new(CAPTURE_LIMIT);
            wasi.stdout(out.clone()).stderr(err.clone());
            (out, err)
        });
        if captured.is_none() {
            wasi.inherit_stdout().inherit_stderr();
        }
        let state = State {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            keyvalue: KeyValueCtx::new(buckets),
            redis: RedisSlot::for_grants(grants),
            limits: StoreLimitsBuilder::new()
                .memory_size(options.max_memory)
                .table_elements(options.max_memory / 8)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);

        let command = Command::instantiate_async(&mut store, &self.component, &linker)
            .await
            .map_err(|e| Error::Load(format!("{e:#}")))?;
        let result = command.wasi_cli_run().call_run(&mut store).await;
        let exit_code = match result {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => *code,
                None => return Err(Error::Run(format!("{e:#}"))),
            },
        };
        let (stdout, stderr) = captured
            .map(|(out, err)| (out.contents().to_vec(), err.contents().to_vec()))
            .unwrap_or_default();
        Ok(Outcome {
            exit_code,
            stdout,
            stderr,
        })
    }
}

fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// The `wasi:keyvalue` interfaces among `imports`.
pub fn keyvalue_imports(imports: &[String]) -> Vec<String> {
    imports
        .iter()
        .filter(|i| i.starts_with(KEYVALUE))
        .cloned()
        .collect()
}
