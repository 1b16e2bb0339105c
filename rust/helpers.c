// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for the vmo module: kernel functions that are inline, macros, or
 * declared in headers that the kernel's Rust bindings do not include
 * (shmem_fs.h). Each is a thin wrapper with no policy of its own; the only
 * Rust file that calls them is rust/shmem.rs (and rust/arch/ for the CPU
 * feature queries).
 */
#include <linux/fs.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/folio_batch.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
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
struct file *vmo_shmem_setup(loff_t size)
{
	struct file *file = shmem_file_setup("vmo", size, mk_vma_flags(VMA_NORESERVE_BIT));

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
