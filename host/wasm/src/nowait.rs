//! The imports of instances called synchronously ([`WasmProviderBuilder::sync_calls`]): the
//! WASI interfaces that never wait, and `wasi:io` whose waiting functions answer at once or
//! trap.
//!
//! A synchronous call runs on the caller's thread, inside the async runtime, where an
//! import cannot wait. Every `wasi:io` function that may wait polls its operation once:
//! ready (always, for the streams a store has), it answers; otherwise the call traps saying
//! so. Clocks, randomness, `wasi:cli` and the rest of `wasi:io` are linked as
//! `wasmtime-wasi` has them. Nothing else is linked: a component importing more is called
//! on a fiber instead. Why: `docs/internals.md`, "Synchronous calls".
//!
//! [`WasmProviderBuilder::sync_calls`]: super::WasmProviderBuilder::sync_calls

use super::state::HostState;
use fiber_streams::{HostInputStream as FiberIn, HostOutputStream as FiberOut};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use wasmtime::component::{HasData, HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::p2::bindings::sync::io::poll::{self, Pollable};
use wasmtime_wasi::p2::bindings::sync::io::streams::{self, InputStream, OutputStream};
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::p2::{StreamError, StreamResult};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{WasiView, p2::bindings::io::error};
use wasmtime_wasi_io::bindings::wasi::io::poll as fiber_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams as fiber_streams;

/// A linker for synchronously called instances (see the module docs).
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HostState>> {
    type T = HostState;
    let mut linker = Linker::new(engine);
    let l = &mut linker;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.ctx().ctx.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    // `wasi:io/error` never waits: linked as `wasmtime-wasi` has it.
    error::add_to_linker::<T, HasSelf<ResourceTable>>(l, |t| t.ctx().table)?;
    poll::add_to_linker::<T, Io>(l, |t| NoWait(t.ctx().table))?;
    streams::add_to_linker::<T, Io>(l, |t| NoWait(t.ctx().table))?;
    Ok(linker)
}

/// `wasi:io` over a store's resource table, never waiting.
pub(crate) struct NoWait<'a>(&'a mut ResourceTable);

/// [`HasData`] of [`NoWait`].
struct Io;

impl HasData for Io {
    type Data<'a> = NoWait<'a>;
}

/// The output of `operation` if it is ready at its first poll.
fn now<F: Future>(operation: F) -> Option<F::Output> {
    match pin!(operation).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The trap of a function that would have to wait.
fn would_wait(function: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "`{function}` would wait, and this adapter is called synchronously (it may only wait \
         when called on a fiber: turn `sync_calls` off)"
    ))
}

/// `operation`'s output now, or a trap naming `function`.
fn at_once<R>(
    function: &str,
    operation: impl Future<Output = wasmtime::Result<R>>,
) -> wasmtime::Result<R> {
    now(operation).unwrap_or_else(|| Err(would_wait(function)))
}

/// Like [`at_once`], for stream operations.
fn stream_at_once<R>(
    function: &str,
    operation: impl Future<Output = StreamResult<R>>,
) -> StreamResult<R> {
    now(operation).unwrap_or_else(|| Err(StreamError::Trap(would_wait(function))))
}

impl poll::Host for NoWait<'_> {
    fn poll(&mut self, pollables: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        at_once("poll", fiber_poll::Host::poll(self.0, pollables))
    }
}

impl poll::HostPollable for NoWait<'_> {
    fn ready(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<bool> {
        // Not ready now is an answer, not a wait.
        now(fiber_poll::HostPollable::ready(self.0, pollable)).unwrap_or(Ok(false))
    }

    fn block(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        at_once(
            "pollable.block",
            fiber_poll::HostPollable::block(self.0, pollable),
        )
    }

    fn drop(&mut self, pollable: Resource<Pollable>) -> wasmtime::Result<()> {
        fiber_poll::HostPollable::drop(self.0, pollable)
    }
}

impl streams::Host for NoWait<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        Ok(fiber_streams::Host::convert_stream_error(self.0, err)?.into())
    }
}

impl streams::HostOutputStream for NoWait<'_> {
    fn drop(&mut self, stream: Resource<OutputStream>) -> wasmtime::Result<()> {
        at_once("output-stream.drop", FiberOut::drop(self.0, stream))
    }

    fn check_write(&mut self, stream: Resource<OutputStream>) -> StreamResult<u64> {
        FiberOut::check_write(self.0, stream)
    }

    fn write(&mut self, stream: Resource<OutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        FiberOut::write(self.0, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        stream_at_once(
            "output-stream.blocking-write-and-flush",
            FiberOut::blocking_write_and_flush(self.0, stream, bytes),
        )
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        stream_at_once(
            "output-stream.blocking-write-zeroes-and-flush",
            FiberOut::blocking_write_zeroes_and_flush(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<OutputStream>,
    ) -> wasmtime::Result<Resource<Pollable>> {
        fiber_streams::HostOutputStream::subscribe(self.0, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<OutputStream>, len: u64) -> StreamResult<()> {
        FiberOut::write_zeroes(self.0, stream, len)
    }

    fn flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        FiberOut::flush(self.0, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<OutputStream>) -> StreamResult<()> {
        stream_at_once(
            "output-stream.blocking-flush",
            FiberOut::blocking_flush(self.0, stream),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        FiberOut::splice(self.0, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<OutputStream>,
        src: Resource<InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        stream_at_once(
            "output-stream.blocking-splice",
            FiberOut::blocking_splice(self.0, dst, src, len),
        )
    }
}

impl streams::HostInputStream for NoWait<'_> {
    fn drop(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<()> {
        at_once("input-stream.drop", FiberIn::drop(self.0, stream))
    }

    fn read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        FiberIn::read(self.0, stream, len)
    }

    fn blocking_read(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        stream_at_once(
            "input-stream.blocking-read",
            FiberIn::blocking_read(self.0, stream, len),
        )
    }

    fn skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        FiberIn::skip(self.0, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<InputStream>, len: u64) -> StreamResult<u64> {
        stream_at_once(
            "input-stream.blocking-skip",
            FiberIn::blocking_skip(self.0, stream, len),
        )
    }

    fn subscribe(&mut self, stream: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        fiber_streams::HostInputStream::subscribe(self.0, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poll::{Host as _, HostPollable as _};
    use streams::HostOutputStream as _;
    use wasmtime_wasi::p2::pipe::SinkOutputStream;
    use wasmtime_wasi::p2::{DynOutputStream, OutputStream as Output};
    use wasmtime_wasi_io::poll::Pollable as Wait;

    /// A stream that takes nothing and is never ready (a full pipe).
    struct Full;

    #[async_trait::async_trait]
    impl Wait for Full {
        async fn ready(&mut self) {
            std::future::pending::<()>().await;
        }
    }

    impl Output for Full {
        fn write(&mut self, _: bytes::Bytes) -> StreamResult<()> {
            Err(StreamError::Trap(wasmtime::Error::msg("no room")))
        }
        fn flush(&mut self) -> StreamResult<()> {
            Ok(())
        }
        fn check_write(&mut self) -> StreamResult<usize> {
            Ok(0)
        }
    }

    fn stream(table: &mut ResourceTable, s: impl Output) -> Resource<OutputStream> {
        let s: DynOutputStream = Box::new(s);
        table.push(s).expect("pushed")
    }

    fn trap_message(e: StreamError) -> String {
        match e {
            StreamError::Trap(e) => format!("{e:#}"),
            other => panic!("expected a trap, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn ready_streams_answer_at_once() {
        let mut table = ResourceTable::new();
        let sink = stream(&mut table, SinkOutputStream);
        let borrow = |r: &Resource<OutputStream>| Resource::new_borrow(r.rep());
        let mut io = NoWait(&mut table);
        io.blocking_write_and_flush(borrow(&sink), b"panicked at ...".to_vec())
            .expect("a discarded stream takes it at once");
        io.blocking_flush(borrow(&sink)).expect("flushed");
        let ready = io.subscribe(borrow(&sink)).expect("pollable");
        io.block(Resource::new_borrow(ready.rep())).expect("ready");
        assert_eq!(
            io.poll(vec![Resource::new_borrow(ready.rep())])
                .expect("poll"),
            [0]
        );
        poll::HostPollable::drop(&mut io, ready).expect("pollable dropped");
        streams::HostOutputStream::drop(&mut io, sink).expect("stream dropped");
        assert!(table.is_empty());
    }

    #[tokio::test]
    async fn waiting_traps_instead() {
        let mut table = ResourceTable::new();
        let full = stream(&mut table, Full);
        let borrow = |r: &Resource<OutputStream>| Resource::new_borrow(r.rep());
        let mut io = NoWait(&mut table);
        let e = io.blocking_write_and_flush(borrow(&full), b"x".to_vec());
        let message = trap_message(e.expect_err("would wait"));
        assert!(
            message.contains("`output-stream.blocking-write-and-flush` would wait")
                && message.contains("sync_calls"),
            "{message}"
        );
        let pollable = io.subscribe(borrow(&full)).expect("pollable");
        let p = || Resource::new_borrow(pollable.rep());
        // Not ready is an answer; waiting for it is a trap.
        assert!(!io.ready(p()).expect("ready answers"));
        let e = io.block(p()).expect_err("block would wait");
        assert!(
            format!("{e:#}").contains("`pollable.block` would wait"),
            "{e:#}"
        );
        let e = io.poll(vec![p()]).expect_err("poll would wait");
        assert!(format!("{e:#}").contains("`poll` would wait"), "{e:#}");
    }
}
