//! Integration tests of `/dev/vmo`, run inside the QEMU guest with the
//! module loaded (on the host they only compile). One binary, so that the
//! harness copies one file; every test opens its own `Device` (its own
//! handle table).
//!
//! Every test asserts exact `Status` values. Where the expected outcome
//! follows Zircon's documentation rather than something the header states,
//! the test says so in its doc comment.

mod abi;
mod cache;
mod children;
mod concurrency;
mod cow;
mod create_size_rw;
mod discardable;
mod errors;
mod exec;
mod handles;
mod mapping;
mod memory;
mod pager;
mod pager_mapping;
mod rights;
mod security;
mod semantics;
mod stress;
mod writeback;
