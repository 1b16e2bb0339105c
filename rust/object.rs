// SPDX-License-Identifier: GPL-2.0

//! What every object of the module shares, in a file that imports nothing of the module: object
//! ids and the page size that VMO offsets and sizes are counted in.

use kernel::sync::atomic::{ordering::Relaxed, Atomic};

/// The page size, as a byte count.
pub(crate) const PAGE_SIZE: u64 = kernel::page::PAGE_SIZE as u64;

/// Object ids, unique for the boot (Zircon's koids start at 1024).
static NEXT_KOID: Atomic<u64> = Atomic::new(1024);

/// A new object id.
pub(crate) fn new_koid() -> u64 {
    NEXT_KOID.fetch_add(1, Relaxed)
}
