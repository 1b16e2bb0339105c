//! Host tests of the typed API that need no kernel module: a `Device` on a
//! file that is not `/dev/vmo` answers every ioctl with `ENOTTY`, which the
//! crate reports as `NOT_SUPPORTED`.

use vmo::{
    AsHandleRef, Device, Event, Handle, HandleBased, Rights, Status, Vmo, VmoChildOptions, VmoOp,
    VmoOptions,
};

fn not_vmo_device() -> Device {
    Device::open_path("/dev/null").expect("open /dev/null")
}

#[test]
fn open_missing_path_is_an_io_error() {
    let e = Device::open_path("/nonexistent/vmo").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn every_call_on_a_file_that_is_not_dev_vmo_is_not_supported() {
    let dev = not_vmo_device();
    assert_eq!(Vmo::create(&dev, 4096, VmoOptions::empty()), Err(Status::NOT_SUPPORTED));
    assert_eq!(Event::create(&dev), Err(Status::NOT_SUPPORTED));
    // SAFETY: 7 is owned by nothing else (and the file has no handles).
    let vmo = Vmo::from(unsafe { Handle::from_raw(&dev, 7) });
    assert_eq!(vmo.get_size(), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.set_size(0), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.read_to_vec(0, 1), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.write(b"x", 0), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.info(), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.get_koid(), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.create_child(VmoChildOptions::SNAPSHOT, 0, 4096), Err(Status::NOT_SUPPORTED));
    for op in VmoOp::ALL {
        assert_eq!(vmo.op_range(*op, 0, 4096), Err(Status::NOT_SUPPORTED), "{op}");
    }
    assert_eq!(vmo.duplicate_handle(Rights::SAME_RIGHTS), Err(Status::NOT_SUPPORTED));
    assert_eq!(vmo.into_handle().close(), Err(Status::NOT_SUPPORTED));
}

#[test]
fn replace_gives_up_the_old_handle_even_on_failure() {
    let dev = not_vmo_device();
    // SAFETY: 9 is owned by nothing else.
    let h = unsafe { Handle::from_raw(&dev, 9) };
    assert_eq!(h.replace(Rights::READ), Err(Status::NOT_SUPPORTED));
}

#[test]
fn raw_conversions_and_typed_handles() {
    let dev = not_vmo_device();
    // SAFETY: 42 is owned by nothing else.
    let h = unsafe { Handle::from_raw(&dev, 42) };
    assert_eq!(h.raw(), 42);
    assert!(!h.is_invalid());
    assert!(h.device().same_table(&dev));
    let ev = Event::from(h);
    assert_eq!(ev.raw_handle(), 42);
    // An event handle can be turned into a Vmo on purpose (WRONG_TYPE later).
    let vmo = Vmo::from(Handle::from(ev));
    assert_eq!(vmo.raw_handle(), 42);
    let h: Handle = vmo.into();
    assert_eq!(h.into_raw(), 42);
    // SAFETY: the invalid handle; dropping it does nothing.
    let zero = unsafe { Handle::from_raw(&dev, 0) };
    assert!(zero.is_invalid());
    assert_eq!(format!("{zero:?}"), "Handle(0x0)");
}

#[test]
fn handles_outlive_their_device_value() {
    let dev = not_vmo_device();
    // SAFETY: 5 is owned by nothing else.
    let h = unsafe { Handle::from_raw(&dev, 5) };
    let other = not_vmo_device();
    assert!(!other.same_table(&dev));
    drop(dev);
    // The fd is still open through the handle: the ioctl reaches /dev/null.
    assert_eq!(Vmo::from(h).get_size(), Err(Status::NOT_SUPPORTED));
}

#[test]
fn types_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Device>();
    send_sync::<Handle>();
    send_sync::<Vmo>();
    send_sync::<Event>();
    send_sync::<Status>();
    send_sync::<Rights>();
}

#[test]
fn page_size_is_a_power_of_two() {
    let pg = vmo::system_get_page_size();
    assert!(pg >= 4096 && pg.is_power_of_two());
}

/// `into_raw` must not keep the device's file open: once every `Device` and
/// `Handle` is gone the file is closed (here, the write end of a pipe, so
/// the read end sees end-of-file).
#[test]
fn into_raw_and_close_release_the_device_file() {
    use std::io::Read;
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let dev = Device::from_fd(writer.into());
    // SAFETY: 3 and 7 are owned by nothing else.
    let a = unsafe { Handle::from_raw(&dev, 3) };
    // SAFETY: as above.
    let b = unsafe { Handle::from_raw(&dev, 7) };
    assert_eq!(a.into_raw(), 3);
    assert_eq!(b.close(), Err(Status::NOT_SUPPORTED));
    drop(dev);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1];
        let _ = tx.send(reader.read(&mut buf).map_err(|e| e.kind()));
    });
    let got = rx.recv_timeout(std::time::Duration::from_secs(5));
    assert_eq!(got, Ok(Ok(0)), "the pipe's write end is still open: a handle leaked the file");
}
