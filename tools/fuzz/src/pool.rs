//! The shared pool: a few VMOs whose handles every worker thread uses at
//! once (multi-threaded runs only).
//!
//! Each slot holds one handle value that any worker may use. A worker may
//! also "rotate" a slot: under the slot's lock it makes a new handle (a
//! duplicate of the slot's anchor, with random rights) and closes the old
//! one, so that the other workers' calls race with a close. The anchors
//! themselves are never closed while the workers run.
//!
//! What the workers cannot know is accepted as a documented set (see
//! `worker.rs`): `BAD_HANDLE` for a rotated handle; any size in
//! [`Slot::sizes`] (every size a worker set, recorded *before* its
//! `SET_SIZE`, through any handle of it); DECOMMIT may be `NOT_SUPPORTED`
//! (another worker's snapshot lives). Sizes set on shared VMOs are multiples
//! of four pages up to [`MAX_RESIZE`], so the set stays small and their
//! pages stay bounded.

use std::os::fd::AsFd;
use std::sync::Mutex;

use vmo::{AsHandleRef, Device, HandleBased, Rights, Vmo, VmoOptions, sys};

use crate::model::{DEFAULT_VMO, R_RESIZE, pg};
use crate::report::status_name;
use crate::rng::Rng;

/// The largest size a worker gives a shared resizable VMO (sizes set on
/// shared VMOs are multiples of four pages up to this).
pub const MAX_RESIZE: u64 = 256 << 10;

/// One shared handle.
#[derive(Clone, Debug)]
pub struct Slot {
    /// The handle value the workers use now.
    pub raw: u32,
    /// Its rights.
    pub rights: u32,
    /// Whether the VMO is resizable.
    pub resizable: bool,
    /// Every size the VMO may have had.
    pub sizes: Vec<u64>,
    /// The handle that rotations duplicate (never closed by workers).
    anchor: u32,
    anchor_rights: u32,
}

/// The shared VMOs.
pub struct Pool {
    slots: Vec<Mutex<Slot>>,
    _anchors: Vec<Vmo>,
    dev: Device,
}

impl Pool {
    /// Makes the shared VMOs in `dev`: two fixed-size ones (64 KiB, 1 MiB)
    /// and a resizable one (32 KiB), each with some pages written.
    pub fn new(dev: &Device) -> Result<Pool, String> {
        let p = pg();
        let mut slots = Vec::new();
        let mut anchors = Vec::new();
        for (i, (pages, resizable)) in
            [(16u64, false), (256, false), (8, true)].into_iter().enumerate()
        {
            let opts = if resizable { VmoOptions::RESIZABLE } else { VmoOptions::empty() };
            let size = pages * p;
            let anchor = Vmo::create(dev, size, opts).map_err(|s| format!("pool create: {s}"))?;
            anchor
                .write(&vec![0x30 + i as u8; (2 * p) as usize], 0)
                .map_err(|s| format!("pool write: {s}"))?;
            let dup = anchor
                .duplicate_handle(Rights::SAME_RIGHTS)
                .map_err(|s| format!("pool dup: {s}"))?;
            let rights = DEFAULT_VMO | if resizable { R_RESIZE } else { 0 };
            slots.push(Mutex::new(Slot {
                raw: vmo::Handle::from(dup).into_raw(),
                rights,
                resizable,
                sizes: vec![size],
                anchor: anchor.raw_handle(),
                anchor_rights: rights,
            }));
            anchors.push(anchor);
        }
        Ok(Pool { slots, _anchors: anchors, dev: dev.clone() })
    }

    /// How many slots there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// A copy of slot `i`.
    pub fn get(&self, i: usize) -> Slot {
        self.slots[i].lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Records that slot `i`'s VMO may get the (rounded) `size`.
    pub fn may_resize(&self, i: usize, size: u64) {
        let mut s = self.slots[i].lock().unwrap_or_else(|e| e.into_inner());
        if !s.sizes.contains(&size) {
            s.sizes.push(size);
        }
    }

    /// Replaces slot `i`'s handle by a duplicate of its anchor with random
    /// rights and closes the old one; both must succeed. Returns a mismatch
    /// report otherwise.
    pub fn rotate(&self, i: usize, rng: &mut Rng) -> Result<(), String> {
        let mut s = self.slots[i].lock().unwrap_or_else(|e| e.into_inner());
        let rights =
            if rng.chance(1, 2) { s.anchor_rights } else { s.anchor_rights & rng.next_u32() };
        let mut dup = sys::vmo_duplicate_args { handle: s.anchor, rights, ..Default::default() };
        sys::duplicate(self.dev.as_fd(), &mut dup).map_err(|e| {
            format!(
                "rotate slot {i}: DUPLICATE of the anchor gave {}",
                status_name(e.raw_os_error())
            )
        })?;
        let old = s.raw;
        s.raw = dup.out_handle;
        s.rights = rights;
        sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: old, reserved: 0 }).map_err(
            |e| {
                format!("rotate slot {i}: CLOSE of {old:#x} gave {}", status_name(e.raw_os_error()))
            },
        )
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for s in &self.slots {
            let raw = s.lock().unwrap_or_else(|e| e.into_inner()).raw;
            let _ = sys::close(self.dev.as_fd(), sys::vmo_close_args { handle: raw, reserved: 0 });
        }
    }
}
