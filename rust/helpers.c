// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for the vmo module: kernel functions that are inline, macros, or
 * declared in headers that the kernel's Rust bindings do not include
 * (shmem_fs.h). Each is a thin wrapper with no policy of its own; the only
 * Rust file that calls them is rust/shmem.rs (and rust/arch/ for the CPU
 * feature queries).
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/folio_batch.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/uio.h>
#ifdef CONFIG_X86
#include <asm/cpufeature.h>
#include <asm/processor.h>
#include <asm/sync_core.h>
#endif

#include "helpers.h"

/*
 * A new shmem file of @size bytes with no memory reserved up front. Like a
 * memfd it is O_LARGEFILE, or writes past 2 GiB would fail with EFBIG.
 *
 * Its folios are allocated with __GFP_RETRY_MAYFAIL: when memory (or the
 * memory cgroup's limit) runs out, COMMIT fails with NO_MEMORY after reclaim
 * instead of waking the OOM killer, which would pick some task that is not
 * the caller (shmem pages belong to no process). __GFP_NOWARN: a user can
 * cause these failures at will, so they must not print allocation warnings.
 */
struct file *vmo_shmem_setup(loff_t size, u64 koid)
{
	char name[32];
	struct file *file;

	/* The name /proc/<pid>/maps shows for a mapping of the VMO. */
	snprintf(name, sizeof(name), "vmo:%llu", koid);
	file = shmem_file_setup(name, size, mk_vma_flags(VMA_NORESERVE_BIT));

	if (!IS_ERR(file)) {
		file->f_flags |= O_LARGEFILE;
		mapping_set_gfp_mask(file->f_mapping, mapping_gfp_mask(file->f_mapping) |
				     __GFP_RETRY_MAYFAIL | __GFP_NOWARN);
	}
	return file;
}

/* Allocates folios for [off, off + len) through shmem's fallocate path. */
int vmo_shmem_commit(struct file *file, loff_t off, loff_t len)
{
	return vfs_fallocate(file, FALLOC_FL_KEEP_SIZE, off, len);
}

/*
 * Punches [off, off + len): whole pages are unmapped from every user mapping
 * and freed, partial pages of present folios are zeroed in place, absent
 * pages stay absent.
 */
int vmo_shmem_punch(struct file *file, loff_t off, loff_t len)
{
	return vfs_fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
}

/* Copies between a user buffer and the file at @pos; returns bytes or -errno. */
ssize_t vmo_shmem_rw(struct file *file, void __user *buf, size_t len, loff_t pos, bool write)
{
	struct iov_iter iter;
	int ret;

	/* Callers loop over long ranges: let a killed task go. */
	if (fatal_signal_pending(current))
		return -EINTR;
	ret = import_ubuf(write ? ITER_SOURCE : ITER_DEST, buf, len, &iter);
	if (ret)
		return ret;
	return write ? vfs_iter_write(file, &iter, &pos, 0) : vfs_iter_read(file, &iter, &pos, 0);
}

/* Writes a kernel buffer to the file at @pos; returns bytes or -errno. */
ssize_t vmo_shmem_write_kernel(struct file *file, const void *buf, size_t len, loff_t pos)
{
	return kernel_write(file, buf, len, &pos);
}

/*
 * Sets the file's size through the VFS (shmem_setattr): shrinking unmaps and
 * frees the pages past the new end.
 */
int vmo_shmem_set_size(struct file *file, loff_t size)
{
	return vfs_truncate(&file->f_path, size);
}

/* Bytes of memory the file holds (in RAM or in swap). */
u64 vmo_shmem_committed(struct file *file)
{
	return (u64)READ_ONCE(SHMEM_I(file_inode(file))->alloced) << PAGE_SHIFT;
}

/*
 * Calls @fn on the kernel mapping of every present page of [start, end),
 * clipped to the range, one page at a time. @uptodate is false for a folio
 * that was allocated but never written (it reads as zeros; its memory has
 * not been cleared yet and must not be copied). Only present folios are
 * visited, so the cost follows the committed pages, not the range.
 * Returns the number of pages visited, or the first non-zero value @fn
 * returned (negated errno), or -EINTR if the task was killed meanwhile.
 */
long vmo_shmem_for_each_page(struct file *file, loff_t start, loff_t end,
			     vmo_page_fn fn, void *ctx)
{
	struct address_space *mapping = file->f_mapping;
	struct folio_batch fbatch;
	pgoff_t index, last;
	long pages = 0;
	unsigned int i;
	int ret = 0;

	if (end <= start)
		return 0;
	index = start >> PAGE_SHIFT;
	last = (end - 1) >> PAGE_SHIFT;
	folio_batch_init(&fbatch);
	while (!ret && filemap_get_folios(mapping, &index, last, &fbatch)) {
		for (i = 0; !ret && i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];
			loff_t fpos = folio_pos(folio);
			loff_t s = max(start, fpos);
			loff_t e = min(end, fpos + (loff_t)folio_size(folio));
			bool uptodate = folio_test_uptodate(folio);

			while (!ret && s < e) {
				size_t off = s - fpos;
				size_t chunk = min_t(loff_t, e - s, PAGE_SIZE - offset_in_page(off));
				void *kaddr = kmap_local_folio(folio, off);

				ret = fn(ctx, kaddr, chunk, s, uptodate);
				kunmap_local(kaddr);
				s += chunk;
				pages++;
			}
		}
		folio_batch_release(&fbatch);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	return ret ? ret : pages;
}

/*
 * The first hole (absent page) of [start, end) in pages: returns its first
 * page, or @end if every page is present, and sets *@hole_end to the first
 * present page after it (or @end). A swapped-out page counts as present.
 * The cost follows the present pages before the hole (one lookup per folio),
 * not the length of the hole, which is measured with one xa_find().
 */
pgoff_t vmo_shmem_find_hole(struct file *file, pgoff_t start, pgoff_t end, pgoff_t *hole_end)
{
	struct xarray *xa = &file->f_mapping->i_pages;
	unsigned long index = start, next;
	unsigned int n = 0;
	void *entry;

	while (index < end) {
		rcu_read_lock();
		entry = xa_load(xa, index);
		if (entry && !xa_is_value(entry))
			index = max(index + 1, ((struct folio *)entry)->index +
				    folio_nr_pages((struct folio *)entry));
		else if (entry)
			index++;
		rcu_read_unlock();
		if (!entry)
			break;
		if (!(++n % 1024))
			cond_resched();
	}
	if (index >= end) {
		*hole_end = end;
		return end;
	}
	next = index;
	entry = xa_find(xa, &next, end - 1, XA_PRESENT);
	*hole_end = entry ? min_t(unsigned long, next, end) : end;
	return index;
}

/*
 * Writes @len bytes, inside one page, at @pos of the file: a copy of @src, or
 * zeros when @src is NULL; the page is allocated (cleared) if absent. Unlike
 * a write, this takes only the folio lock, not the inode lock, so the pager
 * code may call it under its own lock: a fault or a read that finds the page
 * waits for the folio lock or sees it whole.
 */
int vmo_shmem_fill(struct file *file, loff_t pos, const void *src, size_t len)
{
	struct folio *folio;
	void *kaddr;
	int err;

	/* Callers loop over ranges a user chose: let a killed task go. */
	if (fatal_signal_pending(current))
		return -EINTR;
	cond_resched();

	err = shmem_get_folio(file_inode(file), pos >> PAGE_SHIFT, 0, &folio, SGP_CACHE);
	if (err)
		return err;
	kaddr = kmap_local_folio(folio, offset_in_folio(folio, pos));
	if (src)
		memcpy(kaddr, src, len);
	else
		memset(kaddr, 0, len);
	kunmap_local(kaddr);
	flush_dcache_folio(folio);
	folio_mark_dirty(folio);
	folio_unlock(folio);
	folio_put(folio);
	return 0;
}

/*
 * The fault of a slice's or a pager-backed VMO's mapping: maps the page at
 * vmf->pgoff of the shmem file. With @alloc an absent page is allocated (as
 * shmem_fault does); without, *@hole is set instead, so that the caller can
 * ask the pager (a fallocated page is cleared and used in both cases).
 */
vm_fault_t vmo_shmem_fault_get(struct vm_fault *vmf, bool alloc, bool *hole)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct folio *folio = NULL;
	int err;

	*hole = false;
	err = shmem_get_folio(inode, vmf->pgoff, 0, &folio, alloc ? SGP_CACHE : SGP_NOALLOC);
	/* SGP_NOALLOC reports a hole as -ENOENT (or no folio). */
	if (!alloc && (err == -ENOENT || (!err && !folio))) {
		*hole = true;
		return 0;
	}
	if (err)
		return vmf_error(err);
	if (!folio) {
		*hole = true;
		return 0;
	}
	vmf->page = folio_file_page(folio, vmf->pgoff);
	if (PageHWPoison(vmf->page)) {
		folio_unlock(folio);
		folio_put(folio);
		return VM_FAULT_HWPOISON;
	}
	return VM_FAULT_LOCKED;
}

/*
 * Before a fault waits for the pager: if the fault may be retried, drop the
 * mmap (or VMA) lock, so that the pager, or another thread of the process,
 * can change mappings meanwhile, and return true; the fault must then return
 * VM_FAULT_RETRY.
 */
bool vmo_fault_release_lock(struct vm_fault *vmf)
{
	if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY) || (vmf->flags & FAULT_FLAG_RETRY_NOWAIT))
		return false;
	release_fault_lock(vmf);
	return true;
}

/* ---- VMO file descriptors ------------------------------------------------ */

/*
 * VMO fds are files of a small pseudo filesystem, as dma-bufs are, so that
 * each VMO has an inode whose size fstat reports. The filesystem is mounted
 * while any VMO has an inode (simple_pin_fs); with .owner it keeps the module
 * loaded until the last such inode is gone.
 */
#define VMOFS_MAGIC 0x766d6f66	/* "vmof" */

static struct vfsmount *vmo_mnt;
static int vmo_mnt_count;

static int vmofs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, VMOFS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type vmo_fs_type = {
	.owner = THIS_MODULE,
	.name = "vmofs",
	.init_fs_context = vmofs_init_fs_context,
	.kill_sb = kill_anon_super,
};

static const struct file_operations vmo_fd_fops = {
	.owner = THIS_MODULE,
	.mmap = vmo_fd_mmap,
	.release = vmo_fd_release,
	.show_fdinfo = vmo_fd_show_fdinfo,
	.llseek = noop_llseek,
};

/*
 * A VMA with the module's vm_ops keeps the module loaded: its fault handler
 * is module code, and the VMA can outlive every file of the module.
 */
static void vmo_vm_open(struct vm_area_struct *vma)
{
	__module_get(THIS_MODULE);	/* the VMA copied from holds one */
	vmo_vma_open(vma);
}

static void vmo_vm_close(struct vm_area_struct *vma)
{
	vmo_vma_close(vma);
	module_put(THIS_MODULE);
}

static const struct vm_operations_struct vmo_vm_ops = {
	.open = vmo_vm_open,
	.close = vmo_vm_close,
	.fault = vmo_vma_fault,
};

/* A new inode of @size bytes for one VMO's fds; ERR_PTR on failure. */
struct inode *vmo_export_inode_new(loff_t size)
{
	struct inode *inode;
	int err;

	err = simple_pin_fs(&vmo_fs_type, &vmo_mnt, &vmo_mnt_count);
	if (err)
		return ERR_PTR(err);
	inode = alloc_anon_inode(vmo_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		simple_release_fs(&vmo_mnt, &vmo_mnt_count);
		return inode;
	}
	inode->i_mode = S_IFREG | 0600;
	i_size_write(inode, size);
	return inode;
}

/* Drops the reference vmo_export_inode_new() returned. */
void vmo_export_inode_put(struct inode *inode)
{
	iput(inode);
	simple_release_fs(&vmo_mnt, &vmo_mnt_count);
}

void vmo_export_inode_set_size(struct inode *inode, loff_t size)
{
	inode_lock(inode);
	i_size_write(inode, size);
	inode_unlock(inode);
}

/*
 * A new VMO fd file on @inode (which the file references on its own) with
 * @priv as its private data, opened O_RDWR or O_RDONLY.
 */
struct file *vmo_export_file(struct inode *inode, bool writable, void *priv)
{
	struct file *file;

	/* The file's fops keep the module; __fput() drops this reference. */
	if (!try_module_get(THIS_MODULE))
		return ERR_PTR(-ENOENT);
	ihold(inode);
	file = alloc_file_pseudo(inode, vmo_mnt, "vmo", writable ? O_RDWR : O_RDONLY,
				 &vmo_fd_fops);
	if (IS_ERR(file)) {
		iput(inode);
		module_put(THIS_MODULE);
		return file;
	}
	file->private_data = priv;
	return file;
}

/* get_unused_fd_flags(), fd_install(), put_unused_fd(), fput(). */
int vmo_fd_reserve(bool cloexec)
{
	return get_unused_fd_flags(cloexec ? O_CLOEXEC : 0);
}

void vmo_fd_install(int fd, struct file *file)
{
	fd_install(fd, file);
}

void vmo_fd_unreserve(int fd)
{
	put_unused_fd(fd);
}

/*
 * The VMO fd @fd of the calling task: returns its file (with a reference the
 * caller drops with fput()) and its private data in *@priv, or ERR_PTR:
 * -EBADF for no open file, -EPROTOTYPE for a file that is not a VMO fd.
 */
struct file *vmo_fd_get(int fd, void **priv)
{
	struct file *file = fget(fd);

	if (!file)
		return ERR_PTR(-EBADF);
	if (file->f_op != &vmo_fd_fops) {
		fput(file);
		return ERR_PTR(-EPROTOTYPE);
	}
	*priv = file->private_data;
	return file;
}

/*
 * mmap of a VMO fd: maps the shmem file @shmem at page offset @pgoff instead
 * (the VMO's window in it), with shmem's own vm_ops. The VMA then refers to
 * the shmem file, so punching a hole in it or truncating it unmaps the pages
 * from this mapping too.
 */
int vmo_mmap_shmem(struct vm_area_struct *vma, struct file *shmem, pgoff_t pgoff)
{
	int err;

	vma->vm_pgoff = pgoff;
	err = vfs_mmap(shmem, vma);
	if (err)
		return err;
	vma_set_file(vma, shmem);
	return 0;
}

/* Puts the module's own vm_ops, with @ctx, on a VMA that vmo_mmap_shmem() set up. */
void vmo_vma_set_ops(struct vm_area_struct *vma, void *ctx)
{
	__module_get(THIS_MODULE);	/* the file being mapped holds one */
	vma->vm_ops = &vmo_vm_ops;
	vma->vm_private_data = ctx;
}

#ifdef CONFIG_X86
/* The data-cache line size that clflush/clflushopt/clwb work on. */
unsigned int vmo_x86_clflush_size(void)
{
	return boot_cpu_data.x86_clflush_size;
}

bool vmo_x86_has_clwb(void)
{
	return boot_cpu_has(X86_FEATURE_CLWB);
}

bool vmo_x86_has_clflushopt(void)
{
	return boot_cpu_has(X86_FEATURE_CLFLUSHOPT);
}

bool vmo_x86_has_clflush(void)
{
	return boot_cpu_has(X86_FEATURE_CLFLUSH);
}

/* Serialises the instruction stream of this CPU. */
void vmo_x86_sync_core(void)
{
	sync_core();
}
#endif
