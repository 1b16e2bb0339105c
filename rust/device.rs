// SPDX-License-Identifier: GPL-2.0

//! The per-open state of `/dev/vmo` (one handle table) and the ioctl dispatch: one small
//! handler per command.
//!
//! Lock order: `VmoFile::table` is a leaf lock. It is held only to look handles up, add or
//! remove them; every allocation happens before it is taken (`new_slot`), objects leave the
//! table as owned values and are dropped after it is released, and no VMO operation runs
//! under it.

use crate::{
    handle::{new_slot, Event, Handle, HandleTable, Object},
    rights::Rights,
    status::{Status, ZxResult},
    uapi,
    vmo::Vmo,
};
use core::mem::size_of;
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::{Arc, Mutex},
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
    vmo_info = 88,
    vmo_event_create_args = 8,
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
    table: Mutex<HandleTable>,
}

#[vtable]
impl MiscDevice for VmoFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(VmoFile {
                table <- new_mutex!(HandleTable::new()),
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
                Object::Event(_) => {
                    seq_print!(
                        m,
                        "handle:\t{:#x}\ttype: event\tkoid: {}\trights: {:#x}\n",
                        value,
                        h.object.koid(),
                        h.rights.0
                    );
                }
            }
        }
    }
}

impl VmoFile {
    /// A copy of the handle `value` (the object's reference count is taken under the lock;
    /// everything else happens after it is released).
    fn handle(&self, value: u32) -> ZxResult<Handle> {
        Ok(self.table.lock().get(value)?.clone())
    }

    /// The VMO and rights of the handle `value`: `BAD_HANDLE`, then `WRONG_TYPE`. Only the
    /// VMO's reference count is taken under the lock.
    fn vmo_handle(&self, value: u32) -> ZxResult<(Arc<Vmo>, Rights)> {
        let table = self.table.lock();
        let h = table.get(value)?;
        Ok((h.vmo()?.clone(), h.rights))
    }

    /// Adds `handle` to the table and tells userspace its value through `publish`. If that
    /// fails (a bad output pointer) the handle is closed again, as Zircon does.
    fn install(&self, handle: Handle, publish: impl FnOnce(u32) -> Result) -> Result {
        let slot = new_slot()?;
        let value = self.table.lock().add(slot, handle)?;
        if let Err(e) = publish(value) {
            let closed = self.table.lock().remove(value);
            drop(closed);
            return Err(e);
        }
        Ok(())
    }

    fn create(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_create_args>(arg)?;
        reserved_zero(a.reserved == [0; 2])?;
        let vmo = Vmo::create(a.size, a.options)?;
        let rights = if vmo.is_resizable() {
            Rights::DEFAULT_VMO.with(Rights::RESIZE)
        } else {
            Rights::DEFAULT_VMO
        };
        let handle = Handle {
            object: Object::Vmo(vmo),
            rights,
        };
        self.install(handle, |h| {
            a.handle = h;
            w.write(&a)
        })
    }

    fn create_child(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_create_child_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        // Zircon checks the size and NO_WRITE|RESIZABLE before it looks the handle up.
        let size = Vmo::check_child_args(a.options, a.size)?;
        let (parent, rights) = self.vmo_handle(a.handle)?;
        rights.require(Rights::DUPLICATE.with(Rights::READ))?;
        let child = parent.create_child(a.options, a.offset, size)?;
        let handle = Handle {
            object: Object::Vmo(child),
            rights: Vmo::child_rights(rights, a.options),
        };
        self.install(handle, |h| {
            a.out_handle = h;
            w.write(&a)
        })
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
        let (mut a, mut w) = args::<uapi::vmo_duplicate_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let slot = new_slot()?;
        let value = {
            let mut table = self.table.lock();
            let h = table.get(a.handle)?;
            h.rights.require(Rights::DUPLICATE)?;
            let dup = Handle {
                object: h.object.clone(),
                rights: h.rights.reduce(Rights(a.rights))?,
            };
            table.add(slot, dup)?
        };
        a.out_handle = value;
        if let Err(e) = w.write(&a) {
            let closed = self.table.lock().remove(value);
            drop(closed);
            return Err(e);
        }
        Ok(())
    }

    /// `zx_handle_replace`: the source handle is closed whatever happens after it is found.
    fn replace(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_duplicate_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let slot = new_slot()?;
        let (value, old) = {
            let mut table = self.table.lock();
            let old = table.remove(a.handle)?;
            match old.rights.reduce(Rights(a.rights)) {
                Ok(rights) => {
                    let new = Handle {
                        object: old.object.clone(),
                        rights,
                    };
                    (table.add(slot, new), old)
                }
                Err(e) => (Err(e), old),
            }
        };
        drop(old);
        a.out_handle = value?;
        if let Err(e) = w.write(&a) {
            let closed = self.table.lock().remove(a.out_handle);
            drop(closed);
            return Err(e);
        }
        Ok(())
    }

    fn read(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_rw_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let (vmo, rights) = self.vmo_handle(a.handle)?;
        rights.require(Rights::READ)?;
        let buf = UserPtr::from_addr(a.buffer as usize);
        Ok(vmo.read_user(buf, a.offset, a.length)?)
    }

    fn write(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_rw_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let (vmo, rights) = self.vmo_handle(a.handle)?;
        rights.require(Rights::WRITE)?;
        let buf = UserPtr::from_addr(a.buffer as usize);
        Ok(vmo.write_user(buf, a.offset, a.length)?)
    }

    fn get_size(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_size_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let (vmo, _) = self.vmo_handle(a.handle)?;
        a.size = vmo.size();
        w.write(&a)
    }

    fn set_size(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_size_args>(arg)?;
        reserved_zero(a.reserved == 0)?;
        let (vmo, rights) = self.vmo_handle(a.handle)?;
        rights.require(Rights::WRITE)?;
        if vmo.is_resizable() {
            rights.require(Rights::RESIZE)?;
        }
        Ok(vmo.set_size(a.size)?)
    }

    fn op_range(&self, arg: UserPtr) -> Result {
        let (a, _) = args::<uapi::vmo_op_range_args>(arg)?;
        let (vmo, rights) = self.vmo_handle(a.handle)?;
        vmo.op_range(rights, a.op, a.offset, a.size)?;
        Ok(())
    }

    fn get_info(&self, arg: UserPtr) -> Result {
        let (mut a, mut w) = args::<uapi::vmo_info>(arg)?;
        reserved_zero(a.reserved0 == 0 && a.reserved == [0; 4])?;
        let h = self.handle(a.handle)?;
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
        let (mut a, mut w) = args::<uapi::vmo_event_create_args>(arg)?;
        reserved_zero(a.options == 0)?;
        let handle = Handle {
            object: Object::Event(Event::new()?),
            rights: Rights::DEFAULT_EVENT,
        };
        self.install(handle, |h| {
            a.handle = h;
            w.write(&a)
        })
    }
}
