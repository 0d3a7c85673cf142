//! The `byoc` command run as a process, as a user would: one test binary (one link of the
//! host) with a module per area.

mod commands;
// Shared with the integration tests of `tests/`.
#[path = "../../../../tests/tests/integration/compose.rs"]
mod compose;
mod migrate;
mod serve;
