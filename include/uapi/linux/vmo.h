/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vmo.h - the ABI of /dev/vmo: Zircon virtual memory objects on Linux.
 *
 * This header is the single source of truth for the ABI. The kernel module
 * (rust/) and the userspace crate (tools/vmo) both generate their mirrors of
 * it with bindgen; nothing below is typed twice.
 *
 * Model
 * -----
 * Every open file of /dev/vmo is one handle table, as a Zircon process is.
 * A handle is a non-zero __u32 naming an object (a VMO or an event) together
 * with a set of rights. Handle values come from one counter shared by all open
 * files and are not reused until 2^30 more handles have been made, so a stale
 * handle, a handle from another open file or a made-up value is BAD_HANDLE.
 * Closing the file closes every handle in it.
 *
 * A VMO's pages are shmem folios. Nothing is committed when a VMO is created.
 * A slice child is a window on its parent's pages; a snapshot child behaves as
 * a copy of its parent made at creation and never sees later writes on either
 * side, but copies nothing then (at any size): it reads through to its
 * parent's pages until one side writes a page, which is copied for it then.
 *
 * Status codes
 * ------------
 * Each ioctl returns 0 or -1 with errno set. Every Zircon status that the
 * module can produce has exactly one errno, listed in the VMO_ERRNO_* table
 * below, so userspace recovers the exact zx_status_t. Two more errnos are
 * Linux's own: EFAULT (a bad user pointer; the zx_vmo_op_range page calls it
 * INVALID_ARGS) and EINTR (the task was killed during a long operation; the
 * pages that operation allocated are freed again). An unknown ioctl is ENOTTY.
 *
 * Memory: a VMO's pages are allocated without the OOM killer: when memory or
 * the caller's memory cgroup limit runs out, COMMIT, ZERO and write fail
 * with NO_MEMORY and leave what was committed before, and an access through
 * a mapping that needs a page is SIGBUS.
 *
 * Versioning: every argument struct has a fixed size and reserved fields
 * that must be zero (INVALID_ARGS otherwise), so fields can be added later.
 */
#ifndef _UAPI_LINUX_VMO_H
#define _UAPI_LINUX_VMO_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* ---- Zircon status <-> errno (one errno per status) --------------------- */
#define VMO_ERRNO_NOT_SUPPORTED		95	/* EOPNOTSUPP  ZX_ERR_NOT_SUPPORTED (-2)     */
#define VMO_ERRNO_NO_RESOURCES		24	/* EMFILE      ZX_ERR_NO_RESOURCES (-3)      */
#define VMO_ERRNO_NO_MEMORY		12	/* ENOMEM      ZX_ERR_NO_MEMORY (-4)         */
#define VMO_ERRNO_INVALID_ARGS		22	/* EINVAL      ZX_ERR_INVALID_ARGS (-10)     */
#define VMO_ERRNO_BAD_HANDLE		9	/* EBADF       ZX_ERR_BAD_HANDLE (-11)       */
#define VMO_ERRNO_WRONG_TYPE		91	/* EPROTOTYPE  ZX_ERR_WRONG_TYPE (-12)       */
#define VMO_ERRNO_OUT_OF_RANGE		34	/* ERANGE      ZX_ERR_OUT_OF_RANGE (-14)     */
#define VMO_ERRNO_BUFFER_TOO_SMALL	105	/* ENOBUFS     ZX_ERR_BUFFER_TOO_SMALL (-15) */
#define VMO_ERRNO_BAD_STATE		77	/* EBADFD      ZX_ERR_BAD_STATE (-20)        */
#define VMO_ERRNO_TIMED_OUT		110	/* ETIMEDOUT   ZX_ERR_TIMED_OUT (-21)        */
#define VMO_ERRNO_UNAVAILABLE		119	/* ENAVAIL     ZX_ERR_UNAVAILABLE (-28)      */
#define VMO_ERRNO_ACCESS_DENIED		13	/* EACCES      ZX_ERR_ACCESS_DENIED (-30)    */
#define VMO_ERRNO_IO			5	/* EIO         ZX_ERR_IO (-40)               */
#define VMO_ERRNO_IO_DATA_INTEGRITY	74	/* EBADMSG     ZX_ERR_IO_DATA_INTEGRITY (-42)*/
#define VMO_ERRNO_NO_SPACE		28	/* ENOSPC      ZX_ERR_NO_SPACE (-54)         */
#define VMO_ERRNO_NOT_FOUND		2	/* ENOENT      ZX_ERR_NOT_FOUND (-25)        */

/* ---- Rights: Zircon's bit values ----------------------------------------- */
#define VMO_RIGHT_DUPLICATE	(1u << 0)
#define VMO_RIGHT_TRANSFER	(1u << 1)
#define VMO_RIGHT_READ		(1u << 2)
#define VMO_RIGHT_WRITE		(1u << 3)
#define VMO_RIGHT_EXECUTE	(1u << 4)
#define VMO_RIGHT_MAP		(1u << 5)
#define VMO_RIGHT_GET_PROPERTY	(1u << 6)
#define VMO_RIGHT_SET_PROPERTY	(1u << 7)
#define VMO_RIGHT_SIGNAL	(1u << 12)
#define VMO_RIGHT_WAIT		(1u << 14)
#define VMO_RIGHT_INSPECT	(1u << 15)
#define VMO_RIGHT_RESIZE	(1u << 22)
#define VMO_RIGHT_ATTACH_VMO	(1u << 23)	/* pager: create VMOs backed by it */
#define VMO_RIGHT_MANAGE_VMO	(1u << 24)	/* pager: supply, fail, detach */
/* For duplicate/replace: keep the source handle's rights. */
#define VMO_RIGHT_SAME_RIGHTS	(1u << 31)

/* ZX_DEFAULT_VMO_RIGHTS: BASIC | IO | PROPERTY | MAP | SIGNAL. */
#define VMO_DEFAULT_VMO_RIGHTS	(VMO_RIGHT_TRANSFER | VMO_RIGHT_DUPLICATE | \
				 VMO_RIGHT_WAIT | VMO_RIGHT_INSPECT | \
				 VMO_RIGHT_READ | VMO_RIGHT_WRITE | \
				 VMO_RIGHT_GET_PROPERTY | VMO_RIGHT_SET_PROPERTY | \
				 VMO_RIGHT_MAP | VMO_RIGHT_SIGNAL)
/* ZX_DEFAULT_EVENT_RIGHTS: BASIC | SIGNAL. */
#define VMO_DEFAULT_EVENT_RIGHTS (VMO_RIGHT_TRANSFER | VMO_RIGHT_DUPLICATE | \
				  VMO_RIGHT_WAIT | VMO_RIGHT_INSPECT | \
				  VMO_RIGHT_SIGNAL)

/* ZX_DEFAULT_PAGER_RIGHTS (no DUPLICATE, as in Zircon). */
#define VMO_DEFAULT_PAGER_RIGHTS (VMO_RIGHT_TRANSFER | VMO_RIGHT_INSPECT | \
				  VMO_RIGHT_GET_PROPERTY | VMO_RIGHT_SET_PROPERTY | \
				  VMO_RIGHT_ATTACH_VMO | VMO_RIGHT_MANAGE_VMO)

/* ---- Object types (vmo_info.type): Zircon's ZX_OBJ_TYPE_* values ---------- */
#define VMO_OBJ_TYPE_EVENT	5u
#define VMO_OBJ_TYPE_VMO	3u
#define VMO_OBJ_TYPE_PAGER	28u

/* ---- Options --------------------------------------------------------------- */
/* vmo_create_args.options */
#define VMO_CREATE_RESIZABLE	(1u << 1)
/* ZX_VMO_DISCARDABLE: see "Discardable VMOs" below. Not with RESIZABLE. */
#define VMO_CREATE_DISCARDABLE	(1u << 2)
/* ZX_VMO_TRAP_DIRTY: VMO_IOC_PAGER_CREATE_VMO only (VMO_IOC_CREATE: INVALID_ARGS);
 * see "Writeback" below. */
#define VMO_CREATE_TRAP_DIRTY	(1u << 3)

/* vmo_create_child_args.options: Zircon's ZX_VMO_CHILD_* */
#define VMO_CHILD_SNAPSHOT			(1u << 0)
#define VMO_CHILD_RESIZABLE			(1u << 2)
#define VMO_CHILD_SLICE				(1u << 3)
#define VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE	(1u << 4)
#define VMO_CHILD_NO_WRITE			(1u << 5)

/*
 * The largest VMO: shmem files are limited to MAX_LFS_FILESIZE (2^63 - 1),
 * so a size that rounds up past 2^63 - 4096 is OUT_OF_RANGE. (Zircon allows
 * sizes up to nearly 2^64; this is the one bound where Linux is smaller.)
 */
#define VMO_MAX_SIZE		0x7ffffffffffff000ull

/* Handles one open file can hold; one more is NO_RESOURCES. */
#define VMO_MAX_HANDLES		65536u

/* ---- zx_vmo_op_range ops: Zircon's values ------------------------------------
 * Unknown ops (any other value) are INVALID_ARGS.
 *
 * Cache ops run the CPU's data-cache instructions on the kernel mapping of
 * each committed page in the byte range; holes are skipped, so the cost
 * follows the committed pages, not the range.
 *   x86-64  CLEAN            clwb where the CPU has it, else clflushopt/clflush
 *           CLEAN_INVALIDATE clflushopt, else clflush
 *           INVALIDATE       clflushopt, else clflush: x86 cannot drop a line
 *                            without writing it back, so it is clean+invalidate
 *           SYNC             serialise the instruction stream (sync_core)
 *   arm64   CLEAN dc cvac, CLEAN_INVALIDATE dc civac, each by the CTR_EL0 line
 *           size, then dsb sy; SYNC dc cvau + ic ivau, dsb ish, isb.
 *           INVALIDATE runs as dc civac (clean+invalidate), not dc ivac.
 *
 * Why INVALIDATE never drops lines: a true invalidate of a freshly committed
 * page would discard the zeroes the kernel wrote and expose whatever DRAM held
 * before, i.e. the previous owner's data. shmem zeroes folios lazily (a folio
 * from COMMIT is zeroed on first use), so "clean every page after it is
 * zeroed" cannot be guaranteed from a module. Zircon hides its invalidate
 * behind a debugging boot option for this reason; this module instead makes
 * INVALIDATE a clean+invalidate, which is what a user who invalidates before
 * a DMA read from a device needs, and can never leak data.
 */
#define VMO_OP_COMMIT			1u
#define VMO_OP_DECOMMIT			2u
#define VMO_OP_LOCK			3u
#define VMO_OP_UNLOCK			4u
#define VMO_OP_CACHE_SYNC		6u
#define VMO_OP_CACHE_INVALIDATE		7u
#define VMO_OP_CACHE_CLEAN		8u
#define VMO_OP_CACHE_CLEAN_INVALIDATE	9u
#define VMO_OP_ZERO			10u
#define VMO_OP_TRY_LOCK			11u
#define VMO_OP_DONT_NEED		12u
#define VMO_OP_ALWAYS_NEED		13u
#define VMO_OP_PREFETCH			14u

/*
 * Discardable VMOs (Zircon's RFC-0012; zircon/kernel/object/vm_object_dispatcher.cc
 * RangeOp, vm_object_paged.cc LockRange/TryLockRange/UnlockRange,
 * vm/discardable_vmo_tracker.cc LockDiscardableLocked/UnlockDiscardableLocked).
 *
 * VMO_CREATE_DISCARDABLE makes a VMO whose pages the kernel may discard while
 * it is unlocked; with VMO_CREATE_RESIZABLE it is INVALID_ARGS (after the
 * size check). It has no children: VMO_IOC_CREATE_CHILD is NOT_SUPPORTED
 * (after the parent's rights). A new discardable VMO is unlocked and not yet
 * reclaimable; get_info reports VMO_INFO_FLAG_DISCARDABLE.
 *
 * LOCK, TRY_LOCK, UNLOCK need READ or WRITE (ACCESS_DENIED first), then:
 * NOT_SUPPORTED for a VMO that is not discardable; OUT_OF_RANGE if
 * offset + size overflows or lies outside the VMO, and also for any range
 * other than the whole VMO (offset 0, size = the VMO's size): Zircon's
 * VmCowPages checks the range is the whole VMO with OUT_OF_RANGE. Locks nest
 * with a count.
 *   LOCK locks, then writes a struct vmo_lock_state to op_range's buffer:
 *     buffer_size < sizeof(struct vmo_lock_state) is INVALID_ARGS and a buffer
 *     that cannot be written is EFAULT; in both cases the lock is undone.
 *     discarded_offset/discarded_size are 0/size if the VMO was discarded
 *     since it was last unlocked (its pages now read as zeros), else 0/0.
 *   TRY_LOCK takes no buffer; UNAVAILABLE if the VMO was discarded (use LOCK).
 *   UNLOCK of a VMO that is not locked is BAD_STATE.
 * Once unlocked (lock count 1 -> 0) a VMO is reclaimable: under memory
 * pressure (a shrinker, memory-cgroup aware: the VMO's bookkeeping is charged
 * to the cgroup of its creator, whose reclaim discards it) the kernel discards
 * whole reclaimable VMOs, least recently unlocked first, and frees all their
 * pages (unmapping them from every mapping). A locked VMO is never discarded.
 * Until it is locked again, a discarded VMO fails read, write, COMMIT and
 * PREFETCH with NOT_FOUND (Zircon's VmCowPages refuses page lookups of a
 * discarded VMO with ZX_ERR_NOT_FOUND), and a mapped access is SIGBUS.
 *
 * Hints: DONT_NEED and ALWAYS_NEED need no right; on a VMO that is not
 * pager-backed they succeed at once, before any range check (Zircon's
 * HintRange); on a pager-backed VMO the range must lie inside the VMO
 * (OUT_OF_RANGE), is rounded out to pages, and steers eviction: under
 * memory pressure (global reclaim, or drop_caches) the kernel evicts clean
 * pages of pager-backed VMOs (never dirty or awaiting-clean ones) and the
 * pager supplies them again on the next access; ALWAYS_NEED pages are never
 * evicted (sticky: a later DONT_NEED does not undo it), DONT_NEED pages go
 * first. A VMO with SNAPSHOT_AT_LEAST_ON_WRITE children, a detached one and
 * one whose pager closed lose no page. Pages evicted: a VMO fd's fdinfo
 * (vmo-pager-evicted-pages) and "pager-evicted-pages" in
 * /sys/kernel/debug/vmo/discardable.
 * PREFETCH needs READ and checks and rounds the range as COMMIT does; on a
 * pager-backed VMO, or a clone that reads through to one, it asks the pager
 * for the range as a read would, waits, and fails as COMMIT would; it
 * commits nothing else (a VMO without a pager has nothing to prefetch; a
 * clone copies nothing), as Zircon's VmObjectPaged::PrefetchRange.
 */
struct vmo_lock_state {
	__u64 offset;
	__u64 size;
	__u64 discarded_offset;
	__u64 discarded_size;
};

/* ---- vmo_info.flags: Zircon's ZX_INFO_VMO_* where one exists ---------------- */
#define VMO_INFO_FLAG_TYPE_PAGED	(1u << 0)
#define VMO_INFO_FLAG_RESIZABLE		(1u << 1)
#define VMO_INFO_FLAG_IS_COW_CLONE	(1u << 2)
#define VMO_INFO_FLAG_VIA_HANDLE	(1u << 3)
#define VMO_INFO_FLAG_PAGER_BACKED	(1u << 5)
#define VMO_INFO_FLAG_DISCARDABLE	(1u << 7)
/* Not in Zircon's set: the VMO is a slice (a window on its parent). */
#define VMO_INFO_FLAG_SLICE		(1u << 16)

/* ---- Argument structs ------------------------------------------------------ */

/* VMO_IOC_CREATE: zx_vmo_create. */
struct vmo_create_args {
	__u64 size;		/* in: bytes; rounded up to a page */
	__u32 options;		/* in: VMO_CREATE_* */
	__u32 handle;		/* out */
	__u64 reserved[2];	/* must be zero */
};

/* VMO_IOC_CREATE_CHILD: zx_vmo_create_child. */
struct vmo_create_child_args {
	__u32 handle;		/* in: the parent */
	__u32 options;		/* in: VMO_CHILD_* */
	__u64 offset;		/* in: page aligned */
	__u64 size;		/* in: bytes; rounded up to a page */
	__u32 out_handle;	/* out */
	__u32 reserved;		/* must be zero */
};

/* VMO_IOC_CLOSE: zx_handle_close. Handle 0 is ignored, as in Zircon. */
struct vmo_close_args {
	__u32 handle;
	__u32 reserved;		/* must be zero */
};

/*
 * VMO_IOC_DUPLICATE: zx_handle_duplicate (needs DUPLICATE).
 * VMO_IOC_REPLACE:   zx_handle_replace (the source handle is closed,
 *                    also on failure other than BAD_HANDLE, as in Zircon).
 * rights may only drop rights; VMO_RIGHT_SAME_RIGHTS keeps them.
 */
struct vmo_duplicate_args {
	__u32 handle;
	__u32 rights;
	__u32 out_handle;	/* out */
	__u32 reserved;		/* must be zero */
};

/*
 * VMO_IOC_REPLACE_AS_EXECUTABLE: zx_vmo_replace_as_executable. A new handle
 * in out_handle to the same VMO with the rights of @handle plus EXECUTE
 * (the only way to obtain EXECUTE); @handle is closed. Zircon's order
 * (zircon/kernel/lib/syscalls/vmo.cc, sys_vmo_replace_as_executable):
 *   1. @vmex is judged first, its verdict kept for step 4. There are no
 *      resource objects on Linux, so no handle is a VMEX resource: a @vmex
 *      that names no handle is BAD_HANDLE, one that names a handle (of any
 *      type) is WRONG_TYPE, as Zircon's resource lookup answers for a handle
 *      that is not a resource. @vmex 0 (ZX_HANDLE_INVALID) asks for the
 *      ambient policy (Zircon's ZX_POL_AMBIENT_MARK_VMO_EXEC), which here is:
 *      the caller has CAP_SYS_ADMIN in the initial user namespace; without it,
 *      ACCESS_DENIED.
 *   2. @handle is removed from the table: BAD_HANDLE if it names nothing
 *      (nothing is closed).
 *   3. @handle is not a VMO: BAD_HANDLE, as in Zircon (not WRONG_TYPE); it is
 *      closed.
 *   4. The verdict of step 1, if it is a failure; @handle is closed.
 * So once @handle names something it is closed, whatever the result; only
 * INVALID_ARGS for a non-zero reserved field, EFAULT for an unreadable
 * argument and NO_MEMORY before the lookup leave it open. If out_handle
 * cannot be written back (EFAULT) the new handle is closed again.
 * EXECUTE then passes to duplicates, imports, slices and exported fds (see
 * PROT_EXEC below); a snapshot child, which gets WRITE on its own copy, drops
 * it unless it is made with VMO_CHILD_NO_WRITE, as in Zircon.
 */
struct vmo_replace_as_executable_args {
	__u32 handle;		/* in: the VMO handle to replace (always closed) */
	__u32 vmex;		/* in: must be 0 (ZX_HANDLE_INVALID); see above */
	__u32 out_handle;	/* out */
	__u32 reserved;		/* must be zero */
};

/* VMO_IOC_READ / VMO_IOC_WRITE: zx_vmo_read / zx_vmo_write. */
struct vmo_rw_args {
	__u32 handle;
	__u32 reserved;		/* must be zero */
	__u64 offset;
	__u64 buffer;		/* user pointer */
	__u64 length;
};

/* VMO_IOC_GET_SIZE (no right needed) / VMO_IOC_SET_SIZE (WRITE, RESIZE). */
struct vmo_size_args {
	__u32 handle;
	__u32 reserved;		/* must be zero */
	__u64 size;		/* out for GET, in for SET */
};

/*
 * VMO_IOC_OP_RANGE: zx_vmo_op_range. buffer/buffer_size are used by LOCK only
 * (a struct vmo_lock_state); every other op ignores them.
 */
struct vmo_op_range_args {
	__u32 handle;
	__u32 op;		/* VMO_OP_* */
	__u64 offset;
	__u64 size;
	__u64 buffer;
	__u64 buffer_size;
};

/* VMO_IOC_GET_INFO: zx_object_get_info(ZX_INFO_VMO / ZX_INFO_HANDLE_BASIC). */
struct vmo_info {
	__u32 handle;		/* in */
	__u32 rights;		/* out: the handle's rights */
	__u32 type;		/* out: VMO_OBJ_TYPE_* */
	__u32 flags;		/* out: VMO_INFO_FLAG_* (VMOs only) */
	__u64 koid;		/* out: the object's id, unique for the boot */
	__u64 parent_koid;	/* out: 0 for a root VMO */
	__u64 size;		/* out: bytes */
	__u64 committed_bytes;	/* out: pages owned; a slice owns none */
	__u32 num_children;	/* out: live direct children */
	__u32 reserved0;	/* must be zero on input */
	__u64 reserved[4];	/* must be zero on input */
};

/* VMO_IOC_EVENT_CREATE: zx_event_create. */
struct vmo_event_create_args {
	__u32 options;		/* must be zero */
	__u32 handle;		/* out */
};

/* ---- VMO file descriptors: export, import, mmap ----------------------------
 * VMO_IOC_EXPORT turns a VMO handle into a file descriptor for that VMO, as
 * memfd and dma-buf are: it needs MAP and READ, and DUPLICATE and TRANSFER
 * (an fd can be imported any number of times, in any process: it is a handle
 * copied and sent), ACCESS_DENIED otherwise. The fd is O_RDWR when the handle
 * has WRITE, else O_RDONLY, and remembers the handle's rights. It can be
 * passed to other processes (SCM_RIGHTS, fork). The fd itself changes nothing:
 * read, write, splice and fallocate are refused (EINVAL, EOPNOTSUPP), and so
 * are ftruncate, chmod and chown (EPERM): the size changes only through
 * VMO_IOC_SET_SIZE.
 *
 * mmap of the fd must be MAP_SHARED (MAP_PRIVATE is EINVAL) and maps the
 * VMO's own pages: a slice maps its window on its parent, a snapshot its own
 * pages; the mmap offset is relative to the VMO. A slice's mapping must lie
 * inside the slice (EINVAL otherwise, as dma-buf's past its buffer); a VMO
 * that owns its pages may be mapped past its end, as a memfd may. PROT_WRITE
 * on an O_RDONLY fd is EACCES (Linux's own check). PROT_EXEC needs an fd
 * exported from a handle with EXECUTE (VMO_IOC_REPLACE_AS_EXECUTABLE): such
 * an fd lives on a filesystem instance that is not noexec, and its mappings
 * keep VM_MAYEXEC, so mmap(PROT_EXEC) and a later mprotect(PROT_EXEC) work.
 * Every other fd lives on a noexec instance: mmap with PROT_EXEC is EPERM
 * (mm's own noexec check) and mprotect(PROT_EXEC) is EACCES (VM_MAYEXEC is
 * cleared). No VMO fd can be execve'd: its mode has no x bit and cannot be
 * changed. A mapping cannot grow (mremap: EFAULT), and mm calls on it act only
 * inside it (remap_file_pages checks the window as mmap does; MADV_REMOVE is
 * EOPNOTSUPP; MADV_COLLAPSE is EINVAL). Access past the VMO's size is SIGBUS;
 * shrinking a resizable VMO makes the cut part SIGBUS.
 *
 * Coherence: mappings, read/write ioctls and other processes all use the same
 * page-cache folios. DECOMMIT and whole-page ZERO unmap the pages from every
 * mapping (as fallocate(PUNCH_HOLE) does), so mappings then read zeros; a
 * later access commits a fresh zero page. On a pager-backed VMO a fault on an
 * absent page waits for the pager, and is SIGBUS if the pager fails the range
 * or is detached.
 *
 * fstat on the fd gives st_size = the VMO's size and the same st_ino for
 * every fd of one VMO (st_dev tells the two filesystem instances apart: it
 * differs between fds with and without EXECUTE); /proc/<pid>/maps names the mapping "/vmo:<koid>"
 * (shmem's "(deleted)" suffix follows); /proc/<pid>/fdinfo/<fd> lists the
 * VMO's koid, rights, size and committed bytes.
 *
 * VMO_IOC_IMPORT turns such an fd (from any process) into a handle in the
 * caller's table with the fd's rights, reduced by @rights (which may only
 * drop rights; VMO_RIGHT_SAME_RIGHTS keeps them; more is INVALID_ARGS). A
 * number that is not an open fd is BAD_HANDLE; an fd that is not a VMO fd is
 * WRONG_TYPE.
 */
#define VMO_EXPORT_CLOEXEC	(1u << 0)	/* vmo_export_args.flags: O_CLOEXEC */

struct vmo_export_args {
	__u32 handle;		/* in: a VMO handle with MAP, READ, DUPLICATE, TRANSFER */
	__u32 flags;		/* in: VMO_EXPORT_*; other bits INVALID_ARGS */
	__s32 fd;		/* out */
	__u32 reserved;		/* must be zero */
};

struct vmo_import_args {
	__s32 fd;		/* in: a VMO fd */
	__u32 rights;		/* in: rights to keep, or VMO_RIGHT_SAME_RIGHTS */
	__u32 handle;		/* out */
	__u32 reserved;		/* must be zero */
};

/* ---- User pagers: Zircon's zx_pager_* --------------------------------------
 * A pager is an object in the handle table (VMO_OBJ_TYPE_PAGER, rights
 * VMO_DEFAULT_PAGER_RIGHTS). A pager-backed VMO has no pages of its own until
 * the pager supplies them: COMMIT, read, write and ZERO of partial pages send
 * the pager one READ request per missing run of pages, a page fault one for
 * its page (threads that need the same pages share a request), and wait for
 * it; a request is done when all its pages are present. A fault through a
 * mapping advised MADV_SEQUENTIAL reads ahead: it asks for 16 pages, and a
 * fault on the page where the last one's request ended for twice as many, up
 * to 256 (1 MiB), the window cut at the first present page and at the next
 * request; it waits for its whole request. Any other fault asks for its
 * page alone (Zircon's kernel does no prefetching).
 * The wait ends when the pager supplies the pages (the op goes on) or fails a
 * range that overlaps the request: the op then fails with exactly the status
 * the pager gave, and a fault is SIGBUS. A failure is not sticky: the next
 * access asks again. Waiting for the pager is interruptible: a signal ends
 * the wait (the ioctl restarts if the handler is SA_RESTART; a fatal signal
 * just ends it). A request whose last waiter gave up is withdrawn, with its
 * packet if the pager has not read it yet; one it has read may still be
 * supplied (the pages then stay).
 *
 * Detaching the VMO (VMO_IOC_PAGER_DETACH) fails every waiter and every later
 * access that needs a page with BAD_STATE (a fault: SIGBUS) and frees the
 * VMO's clean pages, as Zircon's detach decommits them; pages that are dirty
 * or await clean stay (see "Writeback" below), so committed_bytes drops to 0
 * unless some were written.
 * When a VMO is detached or its last handle is closed, the pager receives a
 * COMPLETE packet for its key.
 *
 * Closing the pager's last handle (also by the pager process exiting) is not
 * a detach: it fails every waiter with BAD_STATE, and every later access that
 * needs a page the VMO does not hold fails with BAD_STATE (a fault: SIGBUS),
 * but the pages already supplied stay: they are read and written through the
 * ioctls and every mapping as before, ZERO still works, and committed_bytes
 * still counts them. No packet can be delivered any more, not even COMPLETE
 * (Zircon: zircon/kernel/object/pager_proxy.cc PagerProxy::OnDispatcherClose,
 * zircon/kernel/vm/page_source.cc PageSource::Close; core test
 * Pager.ClosePagerTest).
 *
 * Resizable pager-backed VMOs (VMO_CREATE_RESIZABLE at VMO_IOC_PAGER_CREATE_VMO;
 * the handle also gets RESIZE) are resized with VMO_IOC_SET_SIZE. Growing adds
 * pages the pager supplies on demand. Shrinking frees the pages past the new
 * end (mappings of them then SIGBUS) and ends the requests past it as if they
 * were supplied (zircon/kernel/vm/vm_cow_pages.cc VmCowPages::Resize): their
 * waiters look again and find the range gone, so a COMMIT succeeds, a read or
 * write is OUT_OF_RANGE and a fault is SIGBUS. A request that straddles the
 * new end waits only for its part inside; its READ packet, if not read yet,
 * is cut at the end. A supply or FAIL that reaches past the end is
 * OUT_OF_RANGE, also when the VMO shrinks while a supply runs.
 *
 * DECOMMIT on a pager-backed VMO or its slices is NOT_SUPPORTED; a SNAPSHOT
 * child is NOT_SUPPORTED, a SNAPSHOT_AT_LEAST_ON_WRITE child is allowed: its
 * creation asks the pager nothing, it reads through to the parent, and the
 * first access to a page either VMO lacks asks the parent's pager once.
 *
 * Requests are read with VMO_IOC_PAGER_WAIT; poll/epoll on the /dev/vmo fd
 * reports EPOLLIN while a pager in that fd's table has a packet waiting.
 */
#define VMO_PAGER_VMO_READ	0u	/* vmo_pager_packet.type: supply or fail this range */
#define VMO_PAGER_VMO_COMPLETE	1u	/* the VMO is detached or gone: no more requests */
#define VMO_PAGER_VMO_DIRTY	2u	/* TRAP_DIRTY: let this clean range become dirty (OP_DIRTY) or fail it */

/* vmo_pager_op_args.op: Zircon's values. Any other op is NOT_SUPPORTED, as in
 * Zircon's PagerDispatcher::RangeOp (zircon/kernel/object/pager_dispatcher.cc). */
#define VMO_PAGER_OP_FAIL		1u
#define VMO_PAGER_OP_DIRTY		2u
#define VMO_PAGER_OP_WRITEBACK_BEGIN	3u
#define VMO_PAGER_OP_WRITEBACK_END	4u

/*
 * Writeback (Zircon's dirty tracking: zircon/kernel/vm/vm_cow_pages.cc
 * DirtyPagesLocked, WritebackBeginLocked, WritebackEndLocked,
 * EnumerateDirtyRangesLocked; the zx_pager_op_range,
 * zx_pager_query_dirty_ranges and zx_pager_query_vmo_stats reference pages).
 * Every present page of a pager-backed VMO is clean (as supplied or written
 * back), dirty (written since), or awaiting clean (being written back).
 * A write through the write ioctl, ZERO, or a write fault through any mapping
 * makes its pages dirty. With VMO_CREATE_TRAP_DIRTY (at
 * VMO_IOC_PAGER_CREATE_VMO) the first write to a clean page first sends the
 * pager a DIRTY packet for the clean run and waits until the pager applies
 * VMO_PAGER_OP_DIRTY to it (the write goes on) or fails it with OP_FAIL (the
 * write fails with that status; a fault is SIGBUS). Pages written while they
 * await clean become dirty again without a request. Mappings see clean pages
 * read-only: a write through one faults, and so does the first write after a
 * WRITEBACK_BEGIN (the range is write-protected in every mapping).
 *   OP_DIRTY: the pages, which must all be present (NOT_FOUND), become dirty.
 *   OP_WRITEBACK_BEGIN (data 0 or VMO_DIRTY_RANGE_IS_ZERO, else
 *     INVALID_ARGS): the dirty pages of the range await clean.
 *   OP_WRITEBACK_END: the pages that await clean become clean; pages written
 *     since WRITEBACK_BEGIN stay dirty.
 * OP_DIRTY is NOT_SUPPORTED on a VMO made without TRAP_DIRTY (first), then
 * the range is checked (OUT_OF_RANGE), then a detached VMO is BAD_STATE.
 * The writeback ops check the range only: they work after detach, which
 * frees the clean pages but keeps the others (readable, writable, queried
 * and written back as before; a write that needs a DIRTY request is
 * BAD_STATE), as does closing the pager (which frees nothing).
 * A write that reaches a page behind the page tables after its fault made
 * it writable (a long-term pin: O_DIRECT, io_uring fixed buffers) is not
 * seen by a later WRITEBACK_BEGIN, as for any file system without stable
 * pages; writes through the page tables and the ioctls always are.
 * Dirty pages are never freed except by a shrink past them; ZERO of a
 * TRAP_DIRTY VMO asks for the range's absent pages (READ) before it dirties
 * them. No range is ever reported with VMO_DIRTY_RANGE_IS_ZERO: this module
 * keeps no zero ranges (a resizable VMO's growth is supplied on demand).
 */
#define VMO_DIRTY_RANGE_IS_ZERO		1ull

/* One range of VMO_IOC_PAGER_QUERY_DIRTY (Zircon's zx_vmo_dirty_range_t). */
struct vmo_dirty_range {
	__u64 offset;
	__u64 length;
	__u64 options;		/* VMO_DIRTY_RANGE_IS_ZERO, never set here */
};

/*
 * VMO_IOC_PAGER_QUERY_DIRTY: zx_pager_query_dirty_ranges. Writes to @buffer
 * (@buffer_size bytes) the ranges of [offset, offset + length) whose pages
 * are dirty or await clean, in order, each as long as it can be; @actual is
 * how many were written (at most 256 per call, however large the buffer),
 * @avail how many there are in all (call again from the end of the last one
 * for more). The range is rounded out to pages.
 * Order: pager MANAGE_VMO, vmo READ, vmo not of this pager (INVALID_ARGS),
 * the range (OUT_OF_RANGE), then the buffer (EFAULT). Works after detach
 * (the pages that are not clean stay).
 */
struct vmo_pager_query_dirty_args {
	__u32 pager;
	__u32 vmo;
	__u64 offset;
	__u64 length;
	__u64 buffer;		/* struct vmo_dirty_range[] */
	__u64 buffer_size;	/* bytes */
	__u64 actual;		/* out */
	__u64 avail;		/* out */
};

/* zx_pager_vmo_stats_t */
struct vmo_pager_vmo_stats {
	__u32 modified;		/* VMO_PAGER_VMO_STATS_MODIFIED or 0 */
};
#define VMO_PAGER_VMO_STATS_MODIFIED	1u
#define VMO_PAGER_RESET_VMO_STATS	1u	/* vmo_pager_query_stats_args.options */

/*
 * VMO_IOC_PAGER_QUERY_STATS: zx_pager_query_vmo_stats. @modified tells
 * whether the VMO was written (write ioctl, ZERO, a write fault, a resize)
 * since the stats were last reset; VMO_PAGER_RESET_VMO_STATS resets them.
 * Order: pager MANAGE_VMO, vmo not of this pager (INVALID_ARGS),
 * buffer_size < sizeof(struct vmo_pager_vmo_stats) (BUFFER_TOO_SMALL),
 * options (INVALID_ARGS). Works after detach.
 */
struct vmo_pager_query_stats_args {
	__u32 pager;
	__u32 vmo;
	__u32 options;
	__u32 reserved;		/* must be zero */
	__u64 buffer;		/* struct vmo_pager_vmo_stats * */
	__u64 buffer_size;
};

/* VMO_IOC_PAGER_CREATE: zx_pager_create. */
struct vmo_pager_create_args {
	__u32 options;		/* must be zero */
	__u32 handle;		/* out */
};

/*
 * VMO_IOC_PAGER_CREATE_VMO: zx_pager_create_vmo (pager needs ATTACH_VMO).
 * The VMO has the default VMO rights and reports VMO_INFO_FLAG_PAGER_BACKED.
 */
struct vmo_pager_create_vmo_args {
	__u32 pager;
	__u32 options;		/* VMO_CREATE_RESIZABLE | VMO_CREATE_TRAP_DIRTY (else INVALID_ARGS) */
	__u64 key;		/* echoed in every packet for this VMO */
	__u64 size;		/* rounded up to a page */
	__u32 handle;		/* out */
	__u32 reserved;		/* must be zero */
};

/* VMO_IOC_PAGER_DETACH: zx_pager_detach_vmo (pager needs MANAGE_VMO). */
struct vmo_pager_detach_args {
	__u32 pager;
	__u32 vmo;
};

/*
 * VMO_IOC_PAGER_SUPPLY: zx_pager_supply_pages. Moves the pages of
 * [aux_offset, aux_offset + length) of the ordinary VMO aux_vmo (READ and
 * WRITE) into [offset, offset + length) of the pager-backed vmo; pages the
 * VMO already has are kept, absent aux pages supply zeros; the aux range is
 * decommitted afterwards. aux_vmo must be a VMO made by VMO_IOC_CREATE with no
 * children: one that is pager-backed, a child of any kind (slice or snapshot)
 * or has children is BAD_STATE (Zircon's zx_pager_supply_pages reference page
 * and VmObjectPaged::TakePages). Order: pager MANAGE_VMO, alignment of
 * offset, length and aux_offset (INVALID_ARGS), vmo not of this pager
 * (INVALID_ARGS), aux rights, the aux range (OUT_OF_RANGE), the aux VMO
 * (BAD_STATE), the vmo range (OUT_OF_RANGE), length 0 (done), a detached VMO
 * (BAD_STATE). A VMO whose pager is closed cannot be supplied (no handle is
 * left to name the pager).
 */
struct vmo_pager_supply_args {
	__u32 pager;
	__u32 vmo;
	__u64 offset;
	__u64 length;
	__u32 aux_vmo;
	__u32 reserved;		/* must be zero */
	__u64 aux_offset;
};

/*
 * VMO_IOC_PAGER_OP_RANGE: zx_pager_op_range. VMO_PAGER_OP_FAIL fails every
 * request overlapping the page-aligned range with @data, which must be one of
 * VMO_ERRNO_IO, VMO_ERRNO_IO_DATA_INTEGRITY, VMO_ERRNO_BAD_STATE,
 * VMO_ERRNO_NO_SPACE, VMO_ERRNO_BUFFER_TOO_SMALL (else INVALID_ARGS); then a
 * range past the VMO's end is OUT_OF_RANGE and a detached VMO BAD_STATE
 * (zircon/kernel/vm/vm_cow_pages.cc VmCowPages::FailPageRequestsLocked, the
 * zx_pager_op_range reference page and core test Pager.FailAfterDetach; an
 * older Zircon made FAIL after detach a no-op). Order: alignment
 * (INVALID_ARGS), pager MANAGE_VMO, vmo WRITE, vmo not of this pager
 * (INVALID_ARGS), then the op: unknown ops are NOT_SUPPORTED.
 */
struct vmo_pager_op_args {
	__u32 pager;
	__u32 op;		/* VMO_PAGER_OP_* */
	__u32 vmo;
	__u32 reserved;		/* must be zero */
	__u64 offset;
	__u64 length;
	__u64 data;		/* FAIL: the errno of the status to fail with */
};

/* One pager packet (Zircon's zx_packet_page_request_t with the port's key). */
struct vmo_pager_packet {
	__u64 key;
	__u32 type;		/* VMO_PAGER_VMO_* */
	__u32 reserved;
	__u64 offset;		/* READ: page aligned */
	__u64 length;
};

/*
 * VMO_IOC_PAGER_WAIT: the next packet of the pager (no right needed).
 * timeout_ns < 0 waits forever, 0 only looks; TIMED_OUT when none came.
 * A signal ends the wait with EINTR.
 */
struct vmo_pager_wait_args {
	__u32 pager;
	__u32 reserved;		/* must be zero */
	__s64 timeout_ns;
	struct vmo_pager_packet packet;	/* out */
};

/* ---- ioctl numbers ('Z' 0x80-0x9f) ----------------------------------------- */
#define VMO_IOC_MAGIC		'Z'
#define VMO_IOC_CREATE		_IOWR(VMO_IOC_MAGIC, 0x80, struct vmo_create_args)
#define VMO_IOC_CREATE_CHILD	_IOWR(VMO_IOC_MAGIC, 0x81, struct vmo_create_child_args)
#define VMO_IOC_CLOSE		_IOW(VMO_IOC_MAGIC, 0x82, struct vmo_close_args)
#define VMO_IOC_DUPLICATE	_IOWR(VMO_IOC_MAGIC, 0x83, struct vmo_duplicate_args)
#define VMO_IOC_REPLACE		_IOWR(VMO_IOC_MAGIC, 0x84, struct vmo_duplicate_args)
#define VMO_IOC_READ		_IOW(VMO_IOC_MAGIC, 0x85, struct vmo_rw_args)
#define VMO_IOC_WRITE		_IOW(VMO_IOC_MAGIC, 0x86, struct vmo_rw_args)
#define VMO_IOC_GET_SIZE	_IOWR(VMO_IOC_MAGIC, 0x87, struct vmo_size_args)
#define VMO_IOC_SET_SIZE	_IOW(VMO_IOC_MAGIC, 0x88, struct vmo_size_args)
#define VMO_IOC_OP_RANGE	_IOW(VMO_IOC_MAGIC, 0x89, struct vmo_op_range_args)
#define VMO_IOC_GET_INFO	_IOWR(VMO_IOC_MAGIC, 0x8a, struct vmo_info)
#define VMO_IOC_EVENT_CREATE	_IOWR(VMO_IOC_MAGIC, 0x8b, struct vmo_event_create_args)
#define VMO_IOC_EXPORT		_IOWR(VMO_IOC_MAGIC, 0x8c, struct vmo_export_args)
#define VMO_IOC_IMPORT		_IOWR(VMO_IOC_MAGIC, 0x8d, struct vmo_import_args)
#define VMO_IOC_PAGER_CREATE	_IOWR(VMO_IOC_MAGIC, 0x8e, struct vmo_pager_create_args)
#define VMO_IOC_PAGER_CREATE_VMO _IOWR(VMO_IOC_MAGIC, 0x8f, struct vmo_pager_create_vmo_args)
#define VMO_IOC_PAGER_DETACH	_IOW(VMO_IOC_MAGIC, 0x90, struct vmo_pager_detach_args)
#define VMO_IOC_PAGER_SUPPLY	_IOW(VMO_IOC_MAGIC, 0x91, struct vmo_pager_supply_args)
#define VMO_IOC_PAGER_OP_RANGE	_IOW(VMO_IOC_MAGIC, 0x92, struct vmo_pager_op_args)
#define VMO_IOC_PAGER_WAIT	_IOWR(VMO_IOC_MAGIC, 0x93, struct vmo_pager_wait_args)
#define VMO_IOC_REPLACE_AS_EXECUTABLE \
	_IOWR(VMO_IOC_MAGIC, 0x94, struct vmo_replace_as_executable_args)
#define VMO_IOC_PAGER_QUERY_DIRTY _IOWR(VMO_IOC_MAGIC, 0x95, struct vmo_pager_query_dirty_args)
#define VMO_IOC_PAGER_QUERY_STATS _IOW(VMO_IOC_MAGIC, 0x96, struct vmo_pager_query_stats_args)

#endif /* _UAPI_LINUX_VMO_H */
