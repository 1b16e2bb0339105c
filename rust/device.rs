// SPDX-License-Identifier: GPL-2.0

//! The per-open state of `/dev/vmo` (one handle table) and the ioctl dispatch: one small
//! handler per command.
//!
//! Handles are looked up without a lock ([`HandleTable::get`]: RCU and a reference on the
//! handle's own entry). The table's lock is a leaf lock (`poll` reads a count the table's
//! pagers keep, [`pager::Readiness`], without it). It is held
//! only to add or remove handles (and to read one that is duplicated or replaced, so that the
//! source cannot be closed between); every allocation happens before it is taken
//! ([`HandleTable::lock_for_add`]), handles leave the table as owned references dropped after
//! it is released, and no VMO operation runs under it.

use crate::{
    handle::{ambient_mark_vmo_exec, Event, Handle, HandleRef, HandleTable, Object},
    object::PAGE_SIZE,
    pager::{self, Pager, Readiness},
    rights::Rights,
    status::{Status, ZxResult},
    uapi,
    vmo::Vmo,
    vmofd,
};
use core::mem::size_of;
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::Arc,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserPtr, UserSlice, UserSliceReader, UserSliceWriter},
};

macro_rules! uapi_structs {
    ($($t:ident = $size:expr),* $(,)?) => {$(
        // The header gives every struct explicit reserved fields, so none has padding.
        const _: () = assert!(size_of::<uapi::$t>() == $size);
        // SAFETY: `$t` is a `repr(C)` struct of integer fields without padding (checked
        // above): every bit pattern is a valid value.
        unsafe impl FromBytes for uapi::$t {}
        // SAFETY: as above: no padding, so every byte of a value is initialised.
        unsafe impl AsBytes for uapi::$t {}
    )*};
}

uapi_structs!(
    vmo_create_args = 32,
    vmo_create_child_args = 32,
    vmo_close_args = 8,
    vmo_duplicate_args = 16,
    vmo_rw_args = 32,
    vmo_size_args = 16,
    vmo_op_range_args = 40,
    vmo_lock_state = 32,
    vmo_info = 88,
    vmo_event_create_args = 8,
    vmo_export_args = 16,
    vmo_import_args = 16,
    vmo_pager_create_args = 8,
    vmo_pager_create_vmo_args = 32,
    vmo_pager_detach_args = 8,
    vmo_pager_supply_args = 40,
    vmo_pager_op_args = 40,
    vmo_pager_packet = 32,
    vmo_pager_wait_args = 48,
    vmo_replace_as_executable_args = 16,
    vmo_dirty_range = 24,
    vmo_pager_query_dirty_args = 56,
    vmo_pager_vmo_stats = 4,
    vmo_pager_query_stats_args = 32,
);

/// An ioctl argument struct that returns the value of a handle the call made.
trait NewHandleArgs: AsBytes {
    /// Sets the field that returns the new handle.
    fn set_new_handle(&mut self, value: u32);
}

macro_rules! new_handle_args {
    ($($t:ident . $field:ident),* $(,)?) => {$(
        impl NewHandleArgs for uapi::$t {
            fn set_new_handle(&mut self, value: u32) {
                self.$field = value;
            }
        }
    )*};
}

new_handle_args!(
    vmo_create_args.handle,
    vmo_create_child_args.out_handle,
    vmo_duplicate_args.out_handle,
    vmo_replace_as_executable_args.out_handle,
    vmo_event_create_args.handle,
    vmo_import_args.handle,
    vmo_pager_create_args.handle,
    vmo_pager_create_vmo_args.handle,
);

/// Reads the argument struct of an ioctl and returns it with a writer for the results.
fn args<T: FromBytes>(arg: UserPtr) -> Result<(T, UserSliceWriter)> {
    let (mut r, w): (UserSliceReader, UserSliceWriter) =
        UserSlice::new(arg, size_of::<T>()).reader_writer();
    Ok((r.read::<T>()?, w))
}

/// `INVALID_ARGS` unless a reserved field is zero.
fn reserved_zero(zero: bool) -> ZxResult {
    if zero {
        Ok(())
    } else {
        Err(Status::InvalidArgs)
    }
}

/// One open file of `/dev/vmo`: a handle table, as a Zircon process has.
#[pin_data]
pub(crate) struct VmoFile {
    #[pin]
    table: HandleTable,
    /// Notified when a pager of this table queues a packet (`poll`).
    readiness: Arc<Readiness>,
}

#[vtable]
impl MiscDevice for VmoFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(VmoFile {
                table <- HandleTable::new(),
                readiness: pager::new_readiness()?,
            }),
            GFP_KERNEL_ACCOUNT,
        )
    }

    fn ioctl(me: Pin<&VmoFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match cmd {
            uapi::VMO_IOC_CREATE => me.create(arg),
            uapi::VMO_IOC_CREATE_CHILD => me.create_child(arg),
            uapi::VMO_IOC_CLOSE => me.close(arg),
            uapi::VMO_IOC_DUPLICATE => me.duplicate(arg),
            uapi::VMO_IOC_REPLACE => me.replace(arg),
            uapi::VMO_IOC_READ => me.read(arg),
            uapi::VMO_IOC_WRITE => me.write(arg),
            uapi::VMO_IOC_GET_SIZE => me.get_size(arg),
            uapi::VMO_IOC_SET_SIZE => me.set_size(arg),
            uapi::VMO_IOC_OP_RANGE => me.op_range(arg),
            uapi::VMO_IOC_GET_INFO => me.get_info(arg),
            uapi::VMO_IOC_EVENT_CREATE => me.event_create(arg),
            uapi::VMO_IOC_EXPORT => me.export(arg),
            uapi::VMO_IOC_IMPORT => me.import(arg),
            uapi::VMO_IOC_PAGER_CREATE => me.pager_create(arg),
            uapi::VMO_IOC_PAGER_CREATE_VMO => me.pager_create_vmo(arg),
            uapi::VMO_IOC_PAGER_DETACH => me.pager_detach(arg),
            uapi::VMO_IOC_PAGER_SUPPLY => me.pager_supply(arg),
            uapi::VMO_IOC_PAGER_OP_RANGE => me.pager_op_range(arg),
            uapi::VMO_IOC_PAGER_WAIT => me.pager_wait(arg),
            uapi::VMO_IOC_PAGER_QUERY_DIRTY => me.pager_query_dirty(arg),
            uapi::VMO_IOC_PAGER_QUERY_STATS => me.pager_query_stats(arg),
            uapi::VMO_IOC_REPLACE_AS_EXECUTABLE => me.replace_as_executable(arg),
            _ => return Err(ENOTTY),
        }?;
        Ok(0)
    }

    /// `/proc/<pid>/fdinfo/<fd>` of an open `/dev/vmo`: its handles, with each VMO's size and
    /// committed bytes. The table lock is held while printing; `Vmo::info` takes no lock.
    fn show_fdinfo(me: Pin<&VmoFile>, m: &SeqFile, _file: &File) {
        let table = me.table.lock();
        seq_print!(m, "vmo-handles:\t{}\n", table.len());
        for (value, h) in table.iter() {
            match &h.object {
                Object::Vmo(vmo) => {
                    let info = vmo.info();
                    seq_print!(
                        m,
                        "handle:\t{:#x}\ttype: vmo\tkoid: {}\trights: {:#x}\tsize: {}\tcommitted: {}\tchildren: {}\n",
                        value,
                        vmo.koid(),
                        h.rights.0,
                        info.size,
                        info.committed_bytes,
                        info.num_children
                    );
                }
                Object::Event(_) | Object::Pager(_) => {
                    let kind = if h.object.obj_type() == uapi::VMO_OBJ_TYPE_PAGER {
                        "pager"
                    } else {
                        "event"
                    };
                    seq_print!(
                        m,
                        "handle:\t{:#x}\ttype: {}\tkoid: {}\trights: {:#x}\n",
                        value,
                        kind,
                        h.object.koid(),
                        h.rights.0
                    );
                }
            }
        }
    }
}

impl VmoFile {
    /// `poll` on the open file: readable while a pager of its table has a packet waiting.
    pub(crate) fn poll_ready(&self) -> bool {
        self.readiness.has_packets()
    }

    /// What `poll` waits on.
    pub(crate) fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Adds `handle` to the table and returns its value to userspace in `a` (see
    /// [`Self::publish`]).
    fn install(&self, handle: Handle, a: impl NewHandleArgs, w: UserSliceWriter) -> Result {
        let (mut table, slot) = self.table.lock_for_add()?;
        let added = table.add(slot, handle);
        drop(table);
        // A handle the table refused goes after the lock: it may hold a new object's last
        // reference.
        let value = added.map_err(|(e, _refused)| e)?;
        self.publish(value, a, w)
    }

    /// Returns the value of the new handle `value` to userspace: `a` with its handle field set,
    /// written through `w`. If that fails (a bad output pointer) the handle is closed again, as
    /// Zircon does.
    fn publish(&self, value: u32, mut a: impl NewHandleArgs, mut w: UserSliceWriter) -> Result {
        a.set_new_handle(value);
        if let Err(e) = w.write(&a) {
            let closed = self.table.lock().remove(value);
            drop(closed);
            return Err(e);
        }
        Ok(())
    }

    fn create(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_create_args>(arg)?;
        reserved_zero(a.reserved == [0; 2])?;
        let vmo = Vmo::create(a.size, a.options)?;
        let handle = Handle {
            rights: Rights::new_vmo(vmo.is_resizable()),
            object: Object::Vmo(vmo),
        };
        self.install(handle, a, w)
    }

    fn create_child(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_create_child_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        // Zircon checks the size and NO_WRITE|RESIZABLE before it looks the handle up.
        let size = Vmo::check_child_args(a.options, a.size)?;
        let h = self.table.get(a.handle)?;
        let (parent, rights) = (h.vmo()?, h.rights);
        rights.require(Rights::DUPLICATE.with(Rights::READ))?;
        let child = parent.create_child(a.options, a.offset, size)?;
        let handle = Handle {
            object: Object::Vmo(child),
            rights: Vmo::child_rights(rights, a.options),
        };
        self.install(handle, a, w)
    }

    fn close(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_close_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        if a.handle == 0 {
            return Ok(());
        }
        let closed = self.table.lock().remove(a.handle)?;
        drop(closed);
        Ok(())
    }

    fn duplicate(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_duplicate_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let value = {
            let (mut table, slot) = self.table.lock_for_add()?;
            let h = table.get(a.handle)?;
            h.rights.require(Rights::DUPLICATE)?;
            let dup = Handle {
                object: h.object.clone(),
                rights: h.rights.reduce(Rights(a.rights))?,
            };
            // Refused, `dup` is not the object's last reference (`h` is in the table).
            table.add(slot, dup).map_err(|(e, _dup)| e)?
        };
        self.publish(value, a, w)
    }

    /// `zx_handle_replace`: the source handle is closed whatever happens after it is found.
    fn replace(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_duplicate_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let (value, old) = {
            let (mut table, slot) = self.table.lock_for_add()?;
            let old = table.remove(a.handle)?;
            match old.rights.reduce(Rights(a.rights)) {
                Ok(rights) => {
                    let new = Handle {
                        object: old.object.clone(),
                        rights,
                    };
                    // Refused, `new` is not the object's last reference (`old` is).
                    (table.add(slot, new).map_err(|(e, _new)| e), old)
                }
                Err(e) => (Err(e), old),
            }
        };
        drop(old);
        self.publish(value?, a, w)
    }

    /// `zx_vmo_replace_as_executable`: the VMO handle is closed, in Zircon's order, whatever
    /// happens after it is found (see [`HandleTable::replace_as_executable`]); the new handle has
    /// its rights plus `EXECUTE`. Only `vmex` 0 is ever granted, by the ambient policy.
    fn replace_as_executable(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_replace_as_executable_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        // Zircon consults the policy only without a VMEX handle; `capable` may sleep and audit,
        // so it runs before the table's lock is taken.
        let ambient = if a.vmex == 0 {
            ambient_mark_vmo_exec()
        } else {
            Ok(())
        };
        let (mut table, slot) = self.table.lock_for_add()?;
        let (value, old) = table.replace_as_executable(slot, a.handle, a.vmex, ambient);
        drop(table);
        drop(old);
        self.publish(value?, a, w)
    }

    fn read(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_rw_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let vmo_h = self.table.get(a.handle)?;
        let (vmo, rights) = (vmo_h.vmo()?, vmo_h.rights);
        rights.require(Rights::READ)?;
        let buf = UserPtr::from_addr(a.buffer as usize);
        Ok(vmo.read_user(buf, a.offset, a.length)?)
    }

    fn write(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_rw_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let vmo_h = self.table.get(a.handle)?;
        let (vmo, rights) = (vmo_h.vmo()?, vmo_h.rights);
        rights.require(Rights::WRITE)?;
        let buf = UserPtr::from_addr(a.buffer as usize);
        Ok(vmo.write_user(buf, a.offset, a.length)?)
    }

    fn get_size(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_size_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let vmo_h = self.table.get(a.handle)?;
        let vmo = vmo_h.vmo()?;
        a.size = vmo.size();
        w.write(&a)
    }

    fn set_size(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_size_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let vmo_h = self.table.get(a.handle)?;
        let (vmo, rights) = (vmo_h.vmo()?, vmo_h.rights);
        rights.require(Rights::WRITE)?;
        if vmo.is_resizable() {
            rights.require(Rights::RESIZE)?;
        }
        Ok(vmo.set_size(a.size)?)
    }

    fn op_range(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_op_range_args>(arg)?;
        let vmo_h = self.table.get(a.handle)?;
        let (vmo, rights) = (vmo_h.vmo()?, vmo_h.rights);
        if a.op == uapi::VMO_OP_LOCK {
            // The lock state goes to the buffer; a short or unwritable one undoes the lock.
            return vmo.lock_with(rights, a.offset, a.size, |state| {
                if a.buffer_size < size_of::<uapi::vmo_lock_state>() as u64 {
                    return Err(Status::InvalidArgs.into());
                }
                let buf = UserPtr::from_addr(a.buffer as usize);
                UserSlice::new(buf, size_of::<uapi::vmo_lock_state>())
                    .writer()
                    .write(state)
            });
        }
        vmo.op_range(rights, a.op, a.offset, a.size)?;
        Ok(())
    }

    fn get_info(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_info>(arg)?;
        reserved_zero(a.reserved0 == 0 && a.reserved == [0; 4])?;
        let h = self.table.get(a.handle)?;
        a.rights = h.rights.0;
        a.type_ = h.object.obj_type();
        a.koid = h.object.koid();
        if let Object::Vmo(vmo) = &h.object {
            let info = vmo.info();
            a.flags = info.flags;
            a.parent_koid = info.parent_koid;
            a.size = info.size;
            a.committed_bytes = info.committed_bytes;
            a.num_children = info.num_children;
        }
        w.write(&a)
    }

    fn event_create(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_event_create_args>(arg)?;
        reserved_zero(a.options == 0)?;
        let handle = Handle {
            object: Object::Event(Event::new()?),
            rights: Rights::DEFAULT_EVENT,
        };
        self.install(handle, a, w)
    }

    /// `VMO_IOC_EXPORT`: an fd for the VMO, O_RDWR when the handle can write. An fd can be
    /// imported any number of times and passed to any process, so it needs what a handle needs
    /// to be duplicated and transferred (DUPLICATE, TRANSFER), besides MAP and READ.
    fn export(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_export_args>(arg)?;
        reserved_zero(a.reserved == 0 && a.flags & !uapi::VMO_EXPORT_CLOEXEC == 0)?;
        let vmo_h = self.table.get(a.handle)?;
        let (vmo, rights) = (vmo_h.vmo()?, vmo_h.rights);
        rights.require(Rights::MAP.with(Rights::READ))?;
        rights.require(Rights::DUPLICATE.with(Rights::TRANSFER))?;
        vmofd::export(vmo, rights, a.flags & uapi::VMO_EXPORT_CLOEXEC != 0, |fd| {
            a.fd = fd;
            w.write(&a)
        })
    }

    /// `VMO_IOC_IMPORT`: a handle for the VMO of a VMO fd, with the fd's rights reduced.
    fn import(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_import_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let (vmo, rights) = vmofd::import(a.fd)?;
        let handle = Handle {
            object: Object::Vmo(vmo),
            rights: rights.reduce(Rights(a.rights))?,
        };
        self.install(handle, a, w)
    }

    fn pager_create(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_pager_create_args>(arg)?;
        reserved_zero(a.options == 0)?;
        let handle = Handle {
            object: Object::Pager(Pager::new(self.readiness.clone())?),
            rights: Rights::DEFAULT_PAGER,
        };
        self.install(handle, a, w)
    }

    fn pager_create_vmo(&self, arg: UserPtr) -> Result {
        let (a, w) = args::<uapi::vmo_pager_create_vmo_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let pager_h = self.table.get(a.pager)?;
        let (pager, rights) = (pager_h.pager()?, pager_h.rights);
        rights.require(Rights::ATTACH_VMO)?;
        let vmo = Vmo::create_pager_backed(pager, a.options, a.key, a.size)?;
        let handle = Handle {
            rights: Rights::new_vmo(vmo.is_resizable()),
            object: Object::Vmo(vmo),
        };
        self.install(handle, a, w)
    }

    /// The pager (with MANAGE_VMO) and a VMO it backs: handle errors first, then rights, then
    /// `INVALID_ARGS` for a VMO of another pager (Zircon's order).
    fn pager_and_vmo(&self, pager: u32, vmo: u32) -> ZxResult<(HandleRef, HandleRef)> {
        let pager_h = self.table.get(pager)?;
        let (pager, rights) = (pager_h.pager()?, pager_h.rights);
        rights.require(Rights::MANAGE_VMO)?;
        let vmo_h = self.table.get(vmo)?;
        if !vmo_h.vmo()?.is_backed_by(pager) {
            return Err(Status::InvalidArgs);
        }
        Ok((pager_h, vmo_h))
    }

    fn pager_detach(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_pager_detach_args>(arg)?;
        let (_pager, vmo) = self.pager_and_vmo(a.pager, a.vmo)?;
        vmo.vmo()?.detach_pager();
        Ok(())
    }

    fn pager_supply(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_pager_supply_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let pager_h = self.table.get(a.pager)?;
        let (pager, rights) = (pager_h.pager()?, pager_h.rights);
        rights.require(Rights::MANAGE_VMO)?;
        let aligned = |v: u64| v % PAGE_SIZE == 0;
        if !aligned(a.offset) || !aligned(a.length) || !aligned(a.aux_offset) {
            return Err(Status::InvalidArgs.into());
        }
        let vmo_h = self.table.get(a.vmo)?;
        let vmo = vmo_h.vmo()?;
        if !vmo.is_backed_by(pager) {
            return Err(Status::InvalidArgs.into());
        }
        let aux_h = self.table.get(a.aux_vmo)?;
        let (aux, aux_rights) = (aux_h.vmo()?, aux_h.rights);
        aux_rights.require(Rights::READ.with(Rights::WRITE))?;
        Ok(vmo.supply_pages(a.offset, a.length, aux, a.aux_offset)?)
    }

    fn pager_op_range(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_pager_op_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        // Zircon: alignment, the pager's MANAGE_VMO, the VMO's WRITE, the pair, then the op.
        if a.offset % PAGE_SIZE != 0 || a.length % PAGE_SIZE != 0 {
            return Err(Status::InvalidArgs.into());
        }
        let pager_h = self.table.get(a.pager)?;
        let (pager, rights) = (pager_h.pager()?, pager_h.rights);
        rights.require(Rights::MANAGE_VMO)?;
        let vmo_h = self.table.get(a.vmo)?;
        let (vmo, vmo_rights) = (vmo_h.vmo()?, vmo_h.rights);
        vmo_rights.require(Rights::WRITE)?;
        if !vmo.is_backed_by(pager) {
            return Err(Status::InvalidArgs.into());
        }
        // Zircon's `PagerDispatcher::RangeOp`: any op it does not know is `NOT_SUPPORTED`.
        match a.op {
            uapi::VMO_PAGER_OP_FAIL => {
                let status = Status::pager_failure(a.data).ok_or(Status::InvalidArgs)?;
                Ok(vmo.fail_pages(a.offset, a.length, status)?)
            }
            // DIRTY and WRITEBACK_END take no data; WRITEBACK_BEGIN 0 or IS_ZERO, which begins
            // the writeback of the range's zero ranges only (Zircon's `WritebackBeginLocked`):
            // this module keeps none, so it changes nothing after the range check.
            uapi::VMO_PAGER_OP_DIRTY if a.data == 0 => Ok(vmo.dirty_pages(a.offset, a.length)?),
            uapi::VMO_PAGER_OP_WRITEBACK_BEGIN if a.data == 0 => {
                Ok(vmo.writeback_begin(a.offset, a.length, false)?)
            }
            uapi::VMO_PAGER_OP_WRITEBACK_BEGIN
                if a.data == u64::from(uapi::VMO_DIRTY_RANGE_IS_ZERO) =>
            {
                Ok(vmo.writeback_begin(a.offset, a.length, true)?)
            }
            uapi::VMO_PAGER_OP_WRITEBACK_END if a.data == 0 => {
                Ok(vmo.writeback_end(a.offset, a.length)?)
            }
            uapi::VMO_PAGER_OP_DIRTY
            | uapi::VMO_PAGER_OP_WRITEBACK_BEGIN
            | uapi::VMO_PAGER_OP_WRITEBACK_END => Err(Status::InvalidArgs.into()),
            _ => Err(Status::NotSupported.into()),
        }
    }

    fn pager_query_dirty(&self, arg: UserPtr) -> Result {
        /// The most ranges one call returns; `avail` tells the caller to ask again.
        const MAX_RANGES: u64 = 256;
        let (mut a, mut w) = args::<uapi::vmo_pager_query_dirty_args>(arg)?;
        let pager_h = self.table.get(a.pager)?;
        let (pager, rights) = (pager_h.pager()?, pager_h.rights);
        rights.require(Rights::MANAGE_VMO)?;
        let vmo_h = self.table.get(a.vmo)?;
        let (vmo, vmo_rights) = (vmo_h.vmo()?, vmo_h.rights);
        vmo_rights.require(Rights::READ)?;
        if !vmo.is_backed_by(pager) {
            return Err(Status::InvalidArgs.into());
        }
        // The range is rounded out to pages (Zircon's `sys_pager_query_dirty_ranges`).
        let end = a.offset.checked_add(a.length).ok_or(Status::OutOfRange)?;
        let start = a.offset - a.offset % PAGE_SIZE;
        let end = end
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or(Status::OutOfRange)?;
        let room = a.buffer_size / size_of::<uapi::vmo_dirty_range>() as u64;
        // At most `MAX_RANGES`, so the cast cannot truncate.
        let mut ranges = KVec::with_capacity(room.min(MAX_RANGES) as usize, GFP_KERNEL)?;
        let avail = vmo.dirty_ranges(start, end - start, &mut ranges)?;
        let len = ranges.len() * size_of::<uapi::vmo_dirty_range>();
        let mut out = UserSlice::new(UserPtr::from_addr(a.buffer as usize), len).writer();
        for (start, end) in ranges.iter() {
            out.write(&uapi::vmo_dirty_range {
                offset: start * PAGE_SIZE,
                length: (end - start) * PAGE_SIZE,
                options: 0,
            })?;
        }
        a.actual = ranges.len() as u64;
        a.avail = avail;
        w.write(&a)
    }

    fn pager_query_stats(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_pager_query_stats_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let (_pager, vmo_h) = self.pager_and_vmo(a.pager, a.vmo)?;
        let vmo = vmo_h.vmo()?;
        if a.buffer_size < size_of::<uapi::vmo_pager_vmo_stats>() as u64 {
            return Err(Status::BufferTooSmall.into());
        }
        if a.options & !uapi::VMO_PAGER_RESET_VMO_STATS != 0 {
            return Err(Status::InvalidArgs.into());
        }
        let modified = vmo.pager_stats(a.options & uapi::VMO_PAGER_RESET_VMO_STATS != 0)?;
        let stats = uapi::vmo_pager_vmo_stats {
            modified: if modified {
                uapi::VMO_PAGER_VMO_STATS_MODIFIED
            } else {
                0
            },
        };
        UserSlice::new(
            UserPtr::from_addr(a.buffer as usize),
            size_of::<uapi::vmo_pager_vmo_stats>(),
        )
        .writer()
        .write(&stats)
    }

    fn pager_wait(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_pager_wait_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        // Wait on the pager's state, not on the handle's object, so that closing the last
        // handle meanwhile closes the pager (and ends this wait).
        let core = self.table.get(a.pager)?.pager()?.core().clone();
        let p = core.wait(a.timeout_ns)?;
        a.packet = uapi::vmo_pager_packet {
            key: p.key,
            type_: p.kind,
            reserved: 0,
            offset: p.offset,
            length: p.length,
        };
        w.write(&a)
    }
}
