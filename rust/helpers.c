// SPDX-License-Identifier: GPL-2.0
/*
 * C shims for the vmo module: kernel functions that are inline, macros, or
 * declared in headers that the kernel's Rust bindings do not include
 * (shmem_fs.h), and the pseudo filesystem of VMO fds (its instances and
 * superblock operations; the fds' file, inode and VMA operations are built
 * in rust/vmofd.rs).
 * Their Rust callers: rust/shmem.rs (shmem files), rust/vmofd.rs (VMO fds,
 * mappings, faults), rust/pager.rs (the waits of pager requests) and
 * rust/arch/ (CPU feature queries); the declarations are in helpers.h.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/falloc.h>
#include <linux/fcntl.h>
#include <linux/slab.h>
#include <linux/file.h>
#include <linux/folio_batch.h>
#include <linux/highmem.h>
#include <linux/list_lru.h>
#include <linux/memcontrol.h>
#include <linux/shrinker.h>
#include <linux/workqueue.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/rcupdate.h>
#include <linux/rmap.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/shmem_fs.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait_bit.h>
#ifdef CONFIG_X86
#include <asm/cpufeature.h>
#include <asm/processor.h>
#include <asm/sync_core.h>
#endif

#include "helpers.h"

/*
 * The module's own tmpfs instance, mounted "huge=never": a VMO's pages are
 * order-0 folios whatever the system's shmem_enabled says, so COMMIT, DECOMMIT
 * and committed_bytes are exact to the page as in Zircon, and filling one page
 * of a pager-backed VMO never makes its neighbours present (a huge folio would
 * turn the pager's holes into zeros nobody asked for). Only the testing-only
 * shmem_enabled=force overrides a mount's huge= option.
 */
static struct vfsmount *vmo_shm_mnt;

int vmo_shmem_mount(void)
{
	struct file_system_type *type = get_fs_type("tmpfs");
	struct fs_context *fc;
	struct vfsmount *mnt;
	int err;

	if (!type)
		return -ENODEV;
	fc = fs_context_for_mount(type, SB_KERNMOUNT);
	if (IS_ERR(fc))
		return PTR_ERR(fc);
	err = vfs_parse_fs_string(fc, "source", "vmo");
	if (!err)
		err = vfs_parse_fs_string(fc, "huge", "never");
	mnt = err ? ERR_PTR(err) : fc_mount_longterm(fc);
	put_fs_context(fc);
	if (IS_ERR(mnt))
		return PTR_ERR(mnt);
	vmo_shm_mnt = mnt;
	return 0;
}

/* At module exit, when no VMO (hence no file of the mount) is left. */
void vmo_shmem_unmount(void)
{
	kern_unmount(vmo_shm_mnt);
	vmo_shm_mnt = NULL;
}

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

	snprintf(name, sizeof(name), "vmo:%llu", koid);
	file = shmem_file_setup_with_mnt(vmo_shm_mnt, name, size,
					 mk_vma_flags(VMA_NORESERVE_BIT));

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

/*
 * Frees the whole pages [off, off + len) of @file (page aligned), as
 * vmo_shmem_punch() does, for the aux VMO of a supply (rust/vmo.rs), which
 * decommits what it moved out after every supply. It is shmem_fallocate()'s
 * hole punch without what a file of the module's private tmpfs instance does
 * not need from vfs_fallocate() and shmem_fallocate():
 *
 * - the VFS checks and hooks (mode, permissions, LSM, fsnotify, freeze
 *   protection): nobody can open, watch or freeze the file other than through
 *   the module, which checked the handle's rights, and it is never sealed;
 * - unmap_mapping_range() when the file has no mapping (an aux VMO is usually
 *   written, not mapped). Whether or not it has one, shmem_truncate_range()
 *   unmaps each folio it removes that is mapped, under the folio lock, which
 *   the fault that maps a folio holds (truncate_inode_folio()), so a mapping
 *   made or faulted meanwhile never keeps a freed page; the bulk unmap before
 *   it, kept when the file is mapped, only makes that cheaper;
 * - the i_private marker that makes faults into the hole wait until the punch
 *   ends: it only keeps faults from refilling a large hole behind a punch
 *   (liveness; shmem_undo_range() of a bounded range goes forward whatever
 *   faults do), and a page faulted in meanwhile is a new page of zeros, as
 *   after the decommit.
 *
 * The inode lock is taken as the punch takes it (same place in the lock
 * order): writes, COMMIT and DECOMMIT of the aux VMO are ordered with it.
 */
void vmo_shmem_decommit_pages(struct file *file, loff_t off, loff_t len)
{
	struct inode *inode = file_inode(file);
	struct address_space *mapping = file->f_mapping;

	if (len <= 0)
		return;
	inode_lock(inode);
	if (mapping_mapped(mapping))
		unmap_mapping_range(mapping, off, len, 0);
	shmem_truncate_range(inode, off, off + len - 1);
	inode_unlock(inode);
}

/*
 * Copies between a user buffer and the file at @pos; returns bytes or -errno.
 * With @nofault the user buffer is not faulted in: the copy stops where it
 * would fault (a short count, or -EFAULT if nothing was copied). shmem's
 * write holds the inode lock across its copy, and callers may hold a lock of
 * their own: a fault there could wait, as long as a pager likes, for a page
 * of another pager-backed VMO mapped as the buffer.
 */
ssize_t vmo_shmem_rw(struct file *file, void __user *buf, size_t len, loff_t pos, bool write,
		     bool nofault)
{
	struct iov_iter iter;
	ssize_t n;
	int ret;

	/* Callers loop over long ranges: let a killed task go. */
	if (fatal_signal_pending(current))
		return -EINTR;
	ret = import_ubuf(write ? ITER_SOURCE : ITER_DEST, buf, len, &iter);
	if (ret)
		return ret;
	if (nofault)
		pagefault_disable();
	n = write ? vfs_iter_write(file, &iter, &pos, 0) : vfs_iter_read(file, &iter, &pos, 0);
	if (nofault)
		pagefault_enable();
	return n;
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
 * Calls @fn on the kernel mapping of each page of @folio inside [start, end),
 * one page at a time, counting them in *@pages; returns the first non-zero
 * value @fn returned, or 0. The caller holds a reference to @folio.
 */
static int vmo_visit_folio(struct folio *folio, loff_t start, loff_t end, bool uptodate,
			   vmo_page_fn fn, void *ctx, long *pages)
{
	loff_t fpos = folio_pos(folio);
	loff_t s = max(start, fpos);
	loff_t e = min(end, fpos + (loff_t)folio_size(folio));
	int ret = 0;

	while (!ret && s < e) {
		size_t off = s - fpos;
		size_t chunk = min_t(loff_t, e - s, PAGE_SIZE - offset_in_page(off));
		void *kaddr = kmap_local_folio(folio, off);

		ret = fn(ctx, kaddr, chunk, s, uptodate);
		kunmap_local(kaddr);
		s += chunk;
		(*pages)++;
	}
	return ret;
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

			ret = vmo_visit_folio(folio, start, end, folio_test_uptodate(folio),
					      fn, ctx, &pages);
		}
		folio_batch_release(&fbatch);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	return ret ? ret : pages;
}

/* The most folios one look-up under the i_pages lock takes a reference on. */
#define VMO_GRAB_FOLIOS 32
/* The most slots one look-up looks at (the time the lock is held is bounded). */
#define VMO_GRAB_SLOTS 4096
/* Levels of an xarray of unsigned long indices. */
#define VMO_XA_LEVELS (BITS_PER_LONG / XA_CHUNK_SHIFT + 1)

/*
 * The index of the first slot of the node with @shift that holds index @idx
 * (0 for the top node, whose slots may cover every index).
 */
static unsigned long vmo_xa_node_base(unsigned long idx, unsigned int shift)
{
	unsigned int bits = shift + XA_CHUNK_SHIFT;

	return bits >= BITS_PER_LONG ? 0 : idx & ~((1UL << bits) - 1);
}

/*
 * Takes a reference on the folios of @xa whose slots lie in [*index, last], in
 * index order, at most VMO_GRAB_FOLIOS of them (into @folios); returns how
 * many, and sets *index to where the next call goes on (past @last when the
 * walk is done). A folio that starts before *index but covers it is taken too.
 * Value entries (pages in swap) are skipped: they are in no CPU cache.
 *
 * The caller holds the xarray's lock, so the tree stands still: a node's count
 * is the number of its slots that are not empty, and the walk leaves a node as
 * soon as it has seen them all. The next present folio is then a few steps
 * away however far its index is: over a 1 TiB VMO with 64 committed pages
 * 16 GiB apart the walk enters about 3 nodes and looks at about 25 slots per
 * page, where xas_find() (filemap_get_folios()) steps through every slot of
 * every node on the way, up to 64 per level. A node entered in its middle
 * (where the walk starts) is looked at to its end. At most VMO_GRAB_SLOTS
 * slots are looked at per call, so that a long run of swapped-out pages does
 * not hold the lock long.
 */
static unsigned int vmo_grab_folios(struct xarray *xa, pgoff_t *index, pgoff_t last,
				    struct folio **folios)
{
	/* Per level of the path from the top (0): entries of the node not seen yet. */
	unsigned int left[VMO_XA_LEVELS];
	unsigned long idx = *index, base = 0, slot_idx;
	unsigned int n = 0, off, lvl = 0, budget = VMO_GRAB_SLOTS;
	struct xa_node *node, *parent;
	struct folio *folio;
	void *entry;

	entry = xa_head_locked(xa);
	if (!xa_is_node(entry)) {
		/* Empty, or a single entry at index 0. */
		if (idx == 0 && entry && !xa_is_internal(entry) && !xa_is_value(entry) &&
		    folio_try_get(entry))
			folios[n++] = entry;
		*index = last + 1;
		return n;
	}
	node = xa_to_node(entry);
	if (node->shift + XA_CHUNK_SHIFT < BITS_PER_LONG &&
	    idx >> (node->shift + XA_CHUNK_SHIFT)) {
		*index = last + 1;	/* past the tree's last index */
		return 0;
	}
	/* Down to the slot of @idx; the nodes on the way are entered in their middle. */
	for (;;) {
		off = (idx >> node->shift) & XA_CHUNK_MASK;
		left[lvl] = XA_CHUNK_SIZE;
		entry = xa_entry_locked(xa, node, off);
		if (!xa_is_node(entry))
			break;
		base += (unsigned long)off << node->shift;
		node = xa_to_node(entry);
		lvl++;
	}
	if (xa_is_sibling(entry)) {
		/* A large folio that starts before @idx and covers it. */
		entry = xa_entry_locked(xa, node, xa_to_sibling(entry));
		if (!xa_is_internal(entry) && !xa_is_value(entry) && folio_try_get(entry))
			folios[n++] = entry;
		off++;
	}
	for (;;) {
		void **slots = (void **)node->slots;

		if (left[lvl] && off < XA_CHUNK_SIZE && !READ_ONCE(slots[off])) {
			/*
			 * Empty slots are passed in a tight loop, four at a time
			 * (only a NULL test: no pointer is followed); they count
			 * against the budget.
			 */
			unsigned int from = off;

			while (off + 4 <= XA_CHUNK_SIZE &&
			       !((unsigned long)READ_ONCE(slots[off]) |
				 (unsigned long)READ_ONCE(slots[off + 1]) |
				 (unsigned long)READ_ONCE(slots[off + 2]) |
				 (unsigned long)READ_ONCE(slots[off + 3])))
				off += 4;
			while (off < XA_CHUNK_SIZE && !READ_ONCE(slots[off]))
				off++;
			budget -= min(budget, off - from);
		}
		if (off == XA_CHUNK_SIZE || !left[lvl]) {
			/* Every entry of this node seen: on to its parent's next slot. */
			parent = xa_parent_locked(xa, node);
			if (!parent) {
				*index = last + 1;
				return n;
			}
			off = node->offset + 1;
			base = vmo_xa_node_base(base, parent->shift);
			node = parent;
			lvl--;
			continue;
		}
		slot_idx = base + ((unsigned long)off << node->shift);
		if (slot_idx > last) {
			*index = last + 1;
			return n;
		}
		entry = xa_entry_locked(xa, node, off);	/* not empty */
		if (budget) {
			budget--;
		} else if (!xa_is_sibling(entry)) {
			/* (A sibling continues the folio before it: never a place to stop.) */
			*index = slot_idx;
			return n;
		}
		left[lvl]--;
		if (xa_is_node(entry)) {
			node = xa_to_node(entry);
			base = slot_idx;
			off = 0;
			left[++lvl] = node->count;
			continue;
		}
		off++;
		if (xa_is_internal(entry) || xa_is_value(entry))
			continue;
		folio = entry;
		if (!folio_try_get(folio))
			continue;	/* frozen: never under the lock, but not ours to take */
		folios[n++] = folio;
		if (n == VMO_GRAB_FOLIOS) {
			*index = folio_next_index(folio);
			return n;
		}
	}
}

/*
 * Calls @fn on the kernel mappings of the present pages of [start, end),
 * clipped to the range, in batches of runs: each run is one folio, or several
 * whose memory is contiguous, mapped as a whole (the linear map: no kmap per
 * page). A batch is found under the i_pages lock (vmo_grab_folios(), which
 * jumps from one present folio to the next), then @fn runs with the lock
 * released and a reference held on every folio of the batch. Only present
 * folios are visited (not pages in swap), so the cost follows the committed
 * pages, not the range. Returns the number of pages visited, or the first
 * non-zero value @fn returned (negated errno), or -EINTR if the task was
 * killed meanwhile.
 */
long vmo_shmem_for_each_run(struct file *file, loff_t start, loff_t end, vmo_runs_fn fn,
			    void *ctx)
{
	struct xarray *xa = &file->f_mapping->i_pages;
	struct folio *folios[VMO_GRAB_FOLIOS];
	struct vmo_run runs[VMO_GRAB_FOLIOS];
	pgoff_t index, last;
	unsigned int n, nr, i;
	long pages = 0;
	int ret = 0;

	/* Whole folios are addressed through the linear map: there is no highmem. */
	BUILD_BUG_ON(IS_ENABLED(CONFIG_HIGHMEM));
	if (end <= start)
		return 0;
	index = start >> PAGE_SHIFT;
	last = (end - 1) >> PAGE_SHIFT;
	while (!ret && index <= last) {
		xa_lock_irq(xa);
		n = vmo_grab_folios(xa, &index, last, folios);
		xa_unlock_irq(xa);
		for (i = 0, nr = 0; i < n; i++) {
			struct folio *folio = folios[i];
			char *kaddr = folio_address(folio);
			loff_t fpos = folio_pos(folio);
			size_t len = folio_size(folio);
			struct vmo_run *r = nr ? &runs[nr - 1] : NULL;

			if (fpos < start) {
				kaddr += start - fpos;
				len -= start - fpos;
				fpos = start;
			}
			if ((u64)(end - fpos) < len)
				len = end - fpos;
			pages += DIV_ROUND_UP(offset_in_page(kaddr) + len, PAGE_SIZE);
			/*
			 * Memory right after or right before the last run joins it
			 * (pages freed and allocated again often come back in
			 * descending order); the order of the lines does not matter
			 * before the op's closing barrier.
			 */
			if (r && r->kaddr + r->len == kaddr) {
				r->len += len;
			} else if (r && kaddr + len == r->kaddr) {
				r->kaddr = kaddr;
				r->len += len;
			} else {
				runs[nr].kaddr = kaddr;
				runs[nr].len = len;
				nr++;
			}
		}
		if (nr)
			ret = fn(ctx, runs, nr);
		for (i = 0; i < n; i++)
			folio_put(folios[i]);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	return ret ? ret : pages;
}

/*
 * Like vmo_shmem_for_each_page(), but for copying the data of [start, end):
 * swapped-out pages are read back in (a page in swap holds data, which
 * filemap_get_folios() would skip), and pages that read as zeros (holes, and
 * folios allocated by COMMIT but never written, which are not uptodate) are
 * not visited. @fn gets uptodate == true. Each folio is visited with a
 * reference held, unlocked. Returns pages visited or a negated errno.
 */
long vmo_shmem_for_each_data_page(struct file *file, loff_t start, loff_t end,
				  vmo_page_fn fn, void *ctx)
{
	struct inode *inode = file_inode(file);
	struct xarray *xa = &file->f_mapping->i_pages;
	pgoff_t index, last;
	long pages = 0;
	int ret = 0;

	if (end <= start)
		return 0;
	index = start >> PAGE_SHIFT;
	last = (end - 1) >> PAGE_SHIFT;
	while (!ret && index <= last) {
		unsigned long next = index;
		struct folio *folio;
		void *entry;

		rcu_read_lock();
		entry = xa_find(xa, &next, last, XA_PRESENT);
		rcu_read_unlock();
		if (!entry)
			break;
		index = next;
		/* SGP_READ: swap in, never allocate; NULL for a hole or a !uptodate folio. */
		ret = shmem_get_folio(inode, index, 0, &folio, SGP_READ);
		if (ret == -EINVAL) {
			ret = 0;	/* past i_size: the file shrank meanwhile */
			break;
		}
		if (ret)
			break;
		if (!folio) {
			index++;
			continue;
		}
		folio_unlock(folio);
		ret = vmo_visit_folio(folio, start, end, true, fn, ctx, &pages);
		index = folio_next_index(folio);
		folio_put(folio);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	return ret ? ret : pages;
}

/*
 * Whether the page cache entry @entry counts as present: any folio or page in
 * swap; with @data_only, a folio only if it is uptodate (a folio allocated and
 * never written, by fallocate or a copy-on-write fill that failed, reads as
 * zeros without holding data; only uptodate folios are swapped out).
 */
static bool vmo_entry_present(void *entry, bool data_only)
{
	return entry && (!data_only || xa_is_value(entry) ||
			 folio_test_uptodate((struct folio *)entry));
}

/*
 * The first hole of [start, end) in pages (an absent page; with @data_only
 * also a page that holds no data, see vmo_entry_present()): returns its first
 * page, or @end if there is none, and sets *@hole_end to the first present
 * page after it (or @end). The cost follows the present pages before the hole
 * (one lookup per folio) and the entries inside it that do not count, not the
 * length of the hole: absent runs are skipped with xa_find().
 */
pgoff_t vmo_shmem_find_hole(struct file *file, pgoff_t start, pgoff_t end, pgoff_t *hole_end,
			    bool data_only)
{
	struct xarray *xa = &file->f_mapping->i_pages;
	unsigned long index = start, next;
	unsigned int n = 0;
	bool present;
	void *entry;

	while (index < end) {
		rcu_read_lock();
		entry = xa_load(xa, index);
		present = vmo_entry_present(entry, data_only);
		if (present && !xa_is_value(entry))
			index = max(index + 1, ((struct folio *)entry)->index +
				    folio_nr_pages((struct folio *)entry));
		else if (present)
			index++;
		rcu_read_unlock();
		if (!present)
			break;
		if (!(++n % 1024))
			cond_resched();
	}
	if (index >= end) {
		*hole_end = end;
		return end;
	}
	/* The hole runs to the next entry that counts as present. */
	next = index + 1;
	for (;;) {
		rcu_read_lock();
		entry = next < end ? xa_find(xa, &next, end - 1, XA_PRESENT) : NULL;
		present = vmo_entry_present(entry, data_only);
		if (entry && !present)
			next = max(next + 1, ((struct folio *)entry)->index +
				   folio_nr_pages((struct folio *)entry));
		rcu_read_unlock();
		if (!entry || present)
			break;
		if (!(++n % 1024))
			cond_resched();
	}
	*hole_end = entry ? min_t(unsigned long, next, end) : end;
	return index;
}

/*
 * Writes @len bytes, inside one page, at @pos of the file: a copy of @src, or
 * zeros when @src is NULL; the page is allocated if absent. Unlike a write,
 * this takes only the folio lock, not the inode lock, so the pager code may
 * call it under its own lock: a fault or a read that finds the page waits for
 * the folio lock or sees it whole. -EINVAL at or past the file's size.
 *
 * SGP_WRITE leaves a new folio !uptodate instead of clearing it first (as
 * SGP_CACHE does): a fill of a whole small folio writes every byte of it once
 * (a supply copies each page without zeroing it before), anything else
 * clears a !uptodate folio first. It is marked uptodate once written, under
 * its lock.
 */
int vmo_shmem_fill(struct file *file, loff_t pos, const void *src, size_t len)
{
	struct inode *inode = file_inode(file);
	struct folio *folio;
	void *kaddr;
	int err;

	/* Callers loop over ranges a user chose: let a killed task go. */
	if (fatal_signal_pending(current))
		return -EINTR;
	cond_resched();
	if (pos >= i_size_read(inode))
		return -EINVAL;

	err = shmem_get_folio(inode, pos >> PAGE_SHIFT, 0, &folio, SGP_WRITE);
	if (err)
		return err;
	if (!folio_test_uptodate(folio) && len != folio_size(folio))
		folio_zero_range(folio, 0, folio_size(folio));
	kaddr = kmap_local_folio(folio, offset_in_folio(folio, pos));
	/*
	 * A whole page from a whole page (a supply's copy: @src maps a page of the
	 * aux VMO) is copied with copy_page(), the kernel's page copy (as
	 * copy_highpage() does), not memcpy(); on x86-64 that is rep movsq or an
	 * unrolled loop rather than memcpy's rep movsb, which an instruction-
	 * counting emulator counts once per byte.
	 */
	if (src && len == PAGE_SIZE && PAGE_ALIGNED(src) && PAGE_ALIGNED(kaddr))
		copy_page(kaddr, (void *)src);
	else if (src)
		memcpy(kaddr, src, len);
	else
		memset(kaddr, 0, len);
	kunmap_local(kaddr);
	flush_dcache_folio(folio);
	if (!folio_test_uptodate(folio))
		folio_mark_uptodate(folio);
	folio_mark_dirty(folio);
	folio_unlock(folio);
	folio_put(folio);
	return 0;
}

/* The file's size in bytes. */
loff_t vmo_shmem_size(struct file *file)
{
	return i_size_read(file_inode(file));
}

/* Unmaps bytes [off, off + len) of the file from every mapping of it. */
void vmo_shmem_unmap(struct file *file, loff_t off, loff_t len)
{
	unmap_mapping_range(file->f_mapping, off, len, 0);
}

/*
 * Write-protects every mapping of the pages [@start, @end) of @file (the
 * writeback of a pager-backed VMO, rust/pager.rs): the next write through any
 * of them faults into page_mkwrite. Each folio is locked for folio_mkclean(),
 * which also orders this after a write fault that holds the folio lock until
 * its writable page table entry is in place. Nothing to do for a file that is
 * not mapped.
 */
void vmo_shmem_write_protect(struct file *file, pgoff_t start, pgoff_t end)
{
	struct address_space *mapping = file->f_mapping;
	struct folio_batch fbatch;
	pgoff_t index = start;
	unsigned int i;

	if (end <= start || !mapping_mapped(mapping))
		return;
	folio_batch_init(&fbatch);
	while (filemap_get_folios(mapping, &index, end - 1, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			folio_lock(folio);
			/* As folio_clear_dirty_for_io(): a dirty pte's bit moves to the folio. */
			if (folio->mapping == mapping && folio_mkclean(folio))
				folio_mark_dirty(folio);
			folio_unlock(folio);
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
}

/* ---- copy-on-write children (rust/cow.rs) ---------------------------------- */

/*
 * The user copies of the copy-on-write paths, which run under the family lock
 * and so must not fault: 0, or -EFAULT if the copy would fault (or the range
 * is not user memory). access_ok() rather than the *_nofault() helpers'
 * __access_ok(): it untags arm64's tagged user pointers (TBI), which
 * fault_in_*() accept, so a tagged buffer cannot fail here forever.
 */
static int vmo_copy_from_user_atomic(void *dst, const void __user *src, size_t len)
{
	unsigned long left;

	if (!access_ok(src, len))
		return -EFAULT;
	pagefault_disable();
	left = __copy_from_user_inatomic(dst, src, len);
	pagefault_enable();
	return left ? -EFAULT : 0;
}

static int vmo_copy_to_user_atomic(void __user *dst, const void *src, size_t len)
{
	unsigned long left;

	if (!access_ok(dst, len))
		return -EFAULT;
	pagefault_disable();
	left = __copy_to_user_inatomic(dst, src, len);
	pagefault_enable();
	return left ? -EFAULT : 0;
}

/*
 * Makes page @index of @dst hold data: if its folio is absent, or allocated
 * but never written (!uptodate), every page of the folio is filled with a
 * copy of the page @src_of names for it (returns 1 with *@src, *@src_index),
 * or zeros when it names none (returns 0) or that page reads as zeros (a
 * hole, a !uptodate folio, past its end); a negated errno from @src_of stops
 * the fill, which returns it and leaves the folio as it was (!uptodate). A large folio (2 MiB folios where
 * the administrator forces huge pages on every tmpfs) is filled whole, so that
 * marking it uptodate exposes nothing. Returns 1 if the folio was filled, 0 if
 * it held data already, or a negated errno (-EINVAL at or past @dst's size).
 * The caller holds the family lock, so no source page changes meanwhile; the
 * source folios are locked (briefly, by SGP_READ) under the folio being
 * filled, and nothing locks them in the other order.
 */
int vmo_cow_fill(struct file *dst, pgoff_t index, vmo_src_fn src_of, void *ctx)
{
	struct inode *inode = file_inode(dst);
	struct folio *folio;
	long i, nr;
	int err;

	if (fatal_signal_pending(current))
		return -EINTR;
	cond_resched();
	if (((loff_t)index << PAGE_SHIFT) >= i_size_read(inode))
		return -EINVAL;
	/* SGP_WRITE: allocate if absent, leave a fallocated folio !uptodate. */
	err = shmem_get_folio(inode, index, 0, &folio, SGP_WRITE);
	if (err)
		return err;
	if (folio_test_uptodate(folio)) {
		folio_unlock(folio);
		folio_put(folio);
		return 0;
	}
	nr = folio_nr_pages(folio);
	for (i = 0; i < nr; i++) {
		struct folio *sfolio = NULL;
		struct file *src = NULL;
		pgoff_t sidx = 0;

		err = src_of(ctx, folio->index + i, &src, &sidx);
		if (err < 0) {
			/* Stopped: the folio stays !uptodate, so it still reads through. */
			folio_unlock(folio);
			folio_put(folio);
			return err;
		}
		if (err == 1 && src) {
			/* SGP_READ: swap in, never allocate; NULL for a page that reads as zeros. */
			err = shmem_get_folio(file_inode(src), sidx, 0, &sfolio, SGP_READ);
			if (err == -EINVAL) {
				sfolio = NULL;
			} else if (err) {
				/* The folio stays !uptodate: nothing is exposed, a later fill retries. */
				folio_unlock(folio);
				folio_put(folio);
				return err;
			}
			if (sfolio)
				folio_unlock(sfolio);
		}
		if (sfolio) {
			copy_highpage(folio_page(folio, i), folio_file_page(sfolio, sidx));
			folio_put(sfolio);
		} else {
			clear_highpage(folio_page(folio, i));
		}
	}
	flush_dcache_folio(folio);
	folio_mark_uptodate(folio);
	folio_mark_dirty(folio);
	folio_unlock(folio);
	folio_put(folio);
	return 1;
}

/*
 * Copies @len bytes (inside one page) from the user buffer @buf to byte @pos
 * of @file, allocating the page (cleared) if absent. The copy does not fault:
 * -EFAULT if it would (the caller drops its locks, faults the buffer in and
 * calls again). -EINVAL at or past the file's size.
 */
int vmo_cow_write_user(struct file *file, loff_t pos, void __user *buf, size_t len)
{
	struct inode *inode = file_inode(file);
	struct folio *folio;
	void *kaddr;
	long ret;
	int err;

	if (fatal_signal_pending(current))
		return -EINTR;
	if (pos >= i_size_read(inode))
		return -EINVAL;
	err = shmem_get_folio(inode, pos >> PAGE_SHIFT, 0, &folio, SGP_WRITE);
	if (err)
		return err;
	if (!folio_test_uptodate(folio)) {
		folio_zero_range(folio, 0, folio_size(folio));
		folio_mark_uptodate(folio);
	}
	kaddr = kmap_local_folio(folio, offset_in_folio(folio, pos));
	ret = vmo_copy_from_user_atomic(kaddr, buf, len);
	kunmap_local(kaddr);
	flush_dcache_folio(folio);
	folio_mark_dirty(folio);
	folio_unlock(folio);
	folio_put(folio);
	return ret ? -EFAULT : 0;
}

/*
 * Copies @len bytes (inside one page) at byte @pos of @src, or zeros when @src
 * is NULL, to the user buffer @buf, without faulting: -EFAULT if it would.
 */
int vmo_cow_read_user(struct file *src, loff_t pos, void __user *buf, size_t len)
{
	struct folio *folio = NULL;
	void *kaddr;
	long ret;

	if (fatal_signal_pending(current))
		return -EINTR;
	if (src) {
		ret = shmem_get_folio(file_inode(src), pos >> PAGE_SHIFT, 0, &folio, SGP_READ);
		if (ret == -EINVAL)
			folio = NULL;
		else if (ret)
			return ret;
		if (folio)
			folio_unlock(folio);
	}
	if (!folio)
		return vmo_copy_to_user_atomic(buf, page_address(ZERO_PAGE(0)), len);
	kaddr = kmap_local_folio(folio, offset_in_folio(folio, pos));
	ret = vmo_copy_to_user_atomic(buf, kaddr, len);
	kunmap_local(kaddr);
	folio_mark_accessed(folio);
	folio_put(folio);
	return ret ? -EFAULT : 0;
}

/*
 * Waits for the write faults in flight on pages [@start, @end) of @file: locks
 * and unlocks each present folio (a fault's page_mkwrite holds the folio lock
 * until its page table entry is in place). Stops at the first folio that may
 * be pinned for DMA (its contents may change behind the page tables) and
 * returns its index, or @end when there is none.
 */
pgoff_t vmo_shmem_quiesce(struct file *file, pgoff_t start, pgoff_t end)
{
	struct address_space *mapping = file->f_mapping;
	struct folio_batch fbatch;
	pgoff_t index = start, pinned = end;
	unsigned int i;

	if (end <= start)
		return end;
	folio_batch_init(&fbatch);
	while (pinned == end && filemap_get_folios(mapping, &index, end - 1, &fbatch)) {
		for (i = 0; i < folio_batch_count(&fbatch); i++) {
			struct folio *folio = fbatch.folios[i];

			folio_lock(folio);
			folio_unlock(folio);
			if (folio_maybe_dma_pinned(folio)) {
				pinned = max(folio->index, start);
				break;
			}
		}
		folio_batch_release(&fbatch);
		cond_resched();
	}
	return pinned;
}

/*
 * page_mkwrite's folio lock: locks the faulting page's folio and checks that
 * it is still in the mapping (false, unlocked, if it was truncated meanwhile).
 */
bool vmo_fault_lock_folio(struct vm_fault *vmf)
{
	struct folio *folio = page_folio(vmf->page);

	folio_lock(folio);
	if (folio->mapping != vmf->vma->vm_file->f_mapping) {
		folio_unlock(folio);
		return false;
	}
	return true;
}

/* Whether the faulting VMA was advised MADV_SEQUENTIAL (read-ahead of pager faults). */
bool vmo_fault_sequential(struct vm_fault *vmf)
{
	return vmf->vma->vm_flags & VM_SEQ_READ;
}

void vmo_fault_unlock_folio(struct vm_fault *vmf)
{
	folio_unlock(page_folio(vmf->page));
}

/*
 * Frees every page of @file, keeping its size: for the file of a closed
 * copy-on-write node (no fd, no mapping, no VMO), whose other accesses all run
 * under the family lock that the caller holds. The inode lock, which a hole
 * punch takes, is not taken: a write(2) to another shmem file holds that lock
 * class while its user copy may fault on a VMO mapping, which takes the family
 * lock.
 */
void vmo_shmem_drop_pages(struct file *file)
{
	shmem_truncate_range(file_inode(file), 0, (loff_t)-1);
}

/*
 * Faults in @len bytes of the user buffer @buf for reading (or writing, with
 * @write); false if some of it cannot be.
 */
bool vmo_fault_in_user(void __user *buf, size_t len, bool write)
{
	if (write)
		return fault_in_writeable(buf, len) == 0;
	return fault_in_readable(buf, len) == 0;
}

/*
 * The fault of a slice's or a pager-backed VMO's mapping: maps the page at
 * vmf->pgoff of the shmem file. With @alloc an absent page is allocated (as
 * shmem_fault does); without, *@hole is set instead, so that the caller can
 * ask the pager (a fallocated page is cleared and used in both cases).
 */
vm_fault_t vmo_shmem_fault_get(struct vm_fault *vmf, bool alloc, bool *hole)
{
	/* vm_file is a VMO fd; its f_mapping is the shmem file's. */
	struct inode *inode = vmf->vma->vm_file->f_mapping->host;
	struct folio *folio = NULL;
	int err;

	*hole = false;
	err = shmem_get_folio(inode, vmf->pgoff, 0, &folio, alloc ? SGP_CACHE : SGP_NOALLOC);
	/* SGP_NOALLOC reports a hole as -ENOENT (or no folio). */
	if (!alloc && (err == -ENOENT || (!err && !folio))) {
		*hole = true;
		return 0;
	}
	/*
	 * Out of memory too: the folio is allocated without the OOM killer
	 * (__GFP_RETRY_MAYFAIL), so VM_FAULT_OOM would only be retried, for as
	 * long as the memory cgroup stays full (see FAULT_FAILED in vmofd.rs).
	 */
	if (err)
		return err == -ENOMEM ? VM_FAULT_SIGBUS : vmf_error(err);
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
 * VMO fds are files of a small pseudo filesystem, as dma-bufs are. Each fd has
 * an inode of its own whose inode number is the VMO's koid (so fstat shows one
 * st_ino per VMO), whose i_private holds a reference to the VMO (so getattr
 * can report the VMO's size and committed bytes however long the inode lives),
 * and whose permission bits are the fd's rights: 0666 for an fd with WRITE,
 * 0444 without, owned by root. mm asks the inode for the rights of the mapped
 * file where it works from vm_file alone (MADV_PAGEOUT/COLD of pages that are
 * shared with others: can_do_file_pageout()).
 *
 * The file's f_mapping is the shmem mapping that holds the VMO's pages (as a
 * block device file's is the bdev mapping), so a mapping of the fd joins that
 * mapping's rmap: punching a hole in the shmem file (DECOMMIT, ZERO) or
 * truncating it unmaps the pages from every mapping, and the page cache keeps
 * mappings, the ioctls and other processes coherent. Every path that works
 * from vm_file and vm_pgoff (remap_file_pages, mremap, madvise, mincore, smaps,
 * khugepaged) meets this file: mmap validates the window, the inode refuses
 * setattr, and the file has no fallocate, read, write or splice.
 *
 * The filesystem is mounted while any VMO fd exists (simple_pin_fs: one pin per
 * file, dropped by its release); with .owner its superblock keeps the module
 * loaded until the last inode is evicted.
 *
 * Executable mappings. mm refuses PROT_EXEC (EPERM) and clears VM_MAYEXEC (so
 * mprotect(PROT_EXEC) is EACCES) for a file whose path is noexec
 * (path_noexec() in do_mmap(), mm/mmap.c), before f_op->mmap is called, and
 * a pseudo filesystem is noexec: init_pseudo() sets SB_I_NOEXEC. The module
 * cannot undo that from its mmap hook, so there are two instances of the
 * filesystem, each with a superblock of its own:
 *  - "vmofs" (SB_I_NOEXEC, as every pseudo filesystem): the fds of handles
 *    without EXECUTE. Their mappings are never executable, by mm's own check
 *    and again by the fd's mmap (rust/vmofd.rs).
 *  - "vmofs-exec" (SB_I_NOEXEC cleared): only the fds of handles with
 *    EXECUTE, the right VMO_IOC_REPLACE_AS_EXECUTABLE grants (CAP_SYS_ADMIN).
 *    mm lets PROT_EXEC through and keeps VM_MAYEXEC; the fd's mmap checks
 *    the right again. Its inodes are not marked S_ANON_INODE: path_noexec()
 *    asserts that an anonymous inode lives on a noexec superblock. The
 *    inodes' mode has no x bit and cannot be changed (setattr is EPERM), so
 *    execve of such an fd (execveat, /proc/<pid>/fd) still fails in
 *    may_open(), and reopening it through /proc fails too (no open in
 *    i_fop, as for every pseudo inode).
 * An fd never moves between the two: its rights are fixed when it is made.
 */
#define VMOFS_MAGIC 0x766d6f66	/* "vmof" */

/* One instance of the filesystem: its type and its kernel mount, pinned per fd. */
struct vmofs {
	struct file_system_type type;
	struct vfsmount *mnt;
	int count;
	bool exec;
};

/*
 * The file's f_mapping is a shmem mapping, so mm and memfd code that sees
 * shmem_file(file) (a check of f_mapping) takes file_inode() for a shmem
 * inode: memfd's seals (every mmap, fcntl F_GET_SEALS/F_ADD_SEALS) and the
 * huge-page orders that smaps reports read SHMEM_I(inode) and SHMEM_SB(sb).
 * Our inodes are therefore embedded in a zeroed shmem_inode_info whose seals
 * say F_SEAL_SEAL (no seal can be added: F_SEAL_WRITE would deny writable
 * mappings of the root's mapping to every holder), and our superblock's
 * s_fs_info is a zeroed shmem_sb_info (huge = SHMEM_HUGE_NEVER).
 */
static struct inode *vmofs_alloc_inode(struct super_block *sb)
{
	struct shmem_inode_info *info = kzalloc(sizeof(*info), GFP_KERNEL_ACCOUNT);

	if (!info)
		return NULL;
	/* What shmem's slab constructor does for its own inodes. */
	inode_init_once(&info->vfs_inode);
	info->seals = F_SEAL_SEAL;
	return &info->vfs_inode;
}

static void vmofs_free_inode(struct inode *inode)
{
	kfree(SHMEM_I(inode));
}

static void vmofs_evict_inode(struct inode *inode)
{
	void *vmo = inode->i_private;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (vmo)
		vmo_fd_inode_release(vmo);
}

static const struct super_operations vmofs_sops = {
	.alloc_inode = vmofs_alloc_inode,
	.free_inode = vmofs_free_inode,
	.statfs = simple_statfs,
	.evict_inode = vmofs_evict_inode,
};

static int vmofs_init_fs_context(struct fs_context *fc)
{
	struct vmofs *fs = container_of(fc->fs_type, struct vmofs, type);
	struct pseudo_fs_context *ctx = init_pseudo(fc, VMOFS_MAGIC);

	if (!ctx)
		return -ENOMEM;
	ctx->ops = &vmofs_sops;
	/* The instance for fds with EXECUTE only (see above). */
	if (fs->exec)
		fc->s_iflags &= ~SB_I_NOEXEC;
	fc->s_fs_info = kzalloc(sizeof(struct shmem_sb_info), GFP_KERNEL);
	return fc->s_fs_info ? 0 : -ENOMEM;
}

static void vmofs_kill_sb(struct super_block *sb)
{
	void *info = sb->s_fs_info;

	kill_anon_super(sb);
	kfree(info);
}

static struct vmofs vmofs_noexec = {
	.type = {
		.owner = THIS_MODULE,
		.name = "vmofs",
		.init_fs_context = vmofs_init_fs_context,
		.kill_sb = vmofs_kill_sb,
	},
};

static struct vmofs vmofs_exec = {
	.type = {
		.owner = THIS_MODULE,
		.name = "vmofs-exec",
		.init_fs_context = vmofs_init_fs_context,
		.kill_sb = vmofs_kill_sb,
	},
	.exec = true,
};

/* The instance a VMO fd's inode belongs to. */
static struct vmofs *vmofs_of(struct inode *inode)
{
	return container_of(inode->i_sb->s_type, struct vmofs, type);
}

/* A VMO fd is released (its f_op->release): drops the file's pin of its instance. */
void vmo_fd_unpin(struct inode *inode)
{
	struct vmofs *fs = vmofs_of(inode);

	simple_release_fs(&fs->mnt, &fs->count);
}

/*
 * A new VMO fd file with the operations @fops, whose inode has the operations
 * @iops: O_RDWR or O_RDONLY, showing the shmem file @shmem's pages (the VMO's
 * root), on the "vmofs-exec" instance if
 * @exec (the handle has EXECUTE), else on the noexec "vmofs". @inode_priv
 * becomes the inode's i_private (released by vmo_fd_inode_release() when the
 * inode is evicted) and @file_priv the file's private data (released by
 * @fops->release, which calls vmo_fd_unpin()), both only on success: on
 * failure the caller still owns them. Returns the file or an ERR_PTR.
 */
struct file *vmo_fd_file_new(struct file *shmem, const struct file_operations *fops,
			     const struct inode_operations *iops, u64 koid, bool writable,
			     bool exec, void *inode_priv, void *file_priv)
{
	struct vmofs *fs = exec ? &vmofs_exec : &vmofs_noexec;
	struct inode *inode;
	struct file *file;
	char name[32];
	int err;

	err = simple_pin_fs(&fs->type, &fs->mnt, &fs->count);
	if (err)
		return ERR_PTR(err);
	inode = alloc_anon_inode(fs->mnt->mnt_sb);
	if (IS_ERR(inode)) {
		file = ERR_CAST(inode);
		goto unpin;
	}
	/* path_noexec() wants anonymous inodes on a noexec superblock only. */
	if (exec)
		inode->i_flags &= ~S_ANON_INODE;
	inode->i_ino = koid;
	inode->i_mode = S_IFREG | (writable ? 0666 : 0444);
	inode->i_uid = GLOBAL_ROOT_UID;
	inode->i_gid = GLOBAL_ROOT_GID;
	inode->i_op = iops;
	/* The file's fops keep the module; __fput() drops this reference. */
	if (!try_module_get(THIS_MODULE)) {
		iput(inode);
		file = ERR_PTR(-ENOENT);
		goto unpin;
	}
	/* The name /proc/<pid>/maps shows for a mapping of the VMO. */
	snprintf(name, sizeof(name), "vmo:%llu", koid);
	file = alloc_file_pseudo(inode, fs->mnt, name, writable ? O_RDWR : O_RDONLY, fops);
	if (IS_ERR(file)) {
		iput(inode);
		module_put(THIS_MODULE);
		goto unpin;
	}
	file->f_mapping = shmem->f_mapping;
	inode->i_private = inode_priv;
	file->private_data = file_priv;
	return file;	/* the pin is the file's until its release */
unpin:
	simple_release_fs(&fs->mnt, &fs->count);
	return file;
}

/* The private data of the VMO fd a VMA maps (vm_file is a VMO fd). */
void *vmo_vma_fd_priv(struct vm_area_struct *vma)
{
	return vma->vm_file->private_data;
}

/* ---- waits of pager requests ------------------------------------------------ */

/*
 * The calling thread's id. Read here rather than through the kernel crate's
 * Task::pid(), which on the GCC-built guest kernel returned the same value
 * for every thread (found by a guest test whose sixteen faulting threads
 * shared one failure record).
 */
pid_t vmo_current_tid(void)
{
	return task_pid_nr(current);
}

/*
 * kvfree_rcu() with the head given by address: the macro needs the field's name,
 * which Rust cannot pass. An rcu_head is at least as large as a kvfree_rcu_head in
 * every configuration. Never calls back into the module, so nothing waits for it
 * at unload.
 */
void vmo_kfree_rcu(void *ptr, struct rcu_head *head)
{
	kvfree_call_rcu((struct kvfree_rcu_head *)head, ptr);
}

/*
 * Sleeps until *@done is non-zero, on the kernel's hashed variable wait
 * queues: killable (only a fatal signal ends the wait; for faults taken in
 * kernel mode, which would otherwise retry at once while a handled signal is
 * pending) or interruptible. Returns 0 or -ERESTARTSYS.
 */
int vmo_wait_done(int *done, bool killable)
{
	if (killable)
		return wait_var_event_killable(done, READ_ONCE(*done));
	return wait_var_event_interruptible(done, READ_ONCE(*done));
}

/*
 * Sets *@done to @value (non-zero) and wakes its waiters. A release: a waiter
 * that reads the value with acquire ordering sees everything written before
 * (the pages a supply filled), without taking the pager's lock.
 */
void vmo_set_done(int *done, int value)
{
	smp_store_release(done, value);
	/* Pairs with the barrier in prepare_to_wait_event() of the waiter. */
	smp_mb();
	wake_up_var(done);
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

/* ---- discardable VMOs: the LRU and the shrinker ------------------------------ */

/*
 * Every discardable VMO has one vmo_lru_node, allocated from an accounted
 * cache with kmem_cache_alloc_lru(): the node is charged to the memory cgroup
 * of the task that created the VMO, and the allocation sets up that cgroup's
 * list in vmo_disc_lru (memcg_list_lru_alloc() is not exported; this is how
 * dentries and inodes get theirs). A node is on the LRU exactly while its VMO
 * is reclaimable (unlocked after a lock, not discarded); list_lru_add_obj()
 * appends it to its cgroup's list, so each list runs from the least recently
 * unlocked VMO. Every add, del and pop is made under the tracker's mutex
 * (rust/discard.rs), which orders them. The owner of a node on the list is
 * alive (rust/discard.rs takes it off before it goes, under the list's lock).
 *
 * The shrinker is SHRINKER_MEMCG_AWARE (a memory cgroup at its limit reclaims
 * its own discardable VMOs) and SHRINKER_NUMA_AWARE (each node's list is
 * counted and scanned for that node). Its scan is Rust: it never sleeps on a
 * lock (trylocks, SHRINK_STOP when contended, as Android's ashmem shrinker
 * backs off) and never frees pages itself: freeing punches a hole in a shmem
 * file, which takes the shmem inode's lock, and the task in reclaim may hold
 * that very lock (a write to the VMO allocating a folio). Discarded VMOs are
 * punched by vmo_discard_wq's worker instead.
 */
/*
 * Whether the shrinker runs in reclaim (PF_MEMALLOC: kswapd, direct reclaim, a
 * memory cgroup's charge, memory.reclaim), which asks again and again until it
 * sees memory freed, rather than for drop_caches, which asks once for
 * everything. The scans count what their workers have yet to free as freed in
 * reclaim only.
 */
static bool vmo_in_reclaim(void)
{
	return current->flags & PF_MEMALLOC;
}

/*
 * A VMO's node on the list_lru of one of the module's shrinkers (discard, and
 * eviction of pager pages): its owner is the Rust object it stands for.
 */
struct vmo_lru_node {
	struct list_head lru;
	const void *owner;
};

struct vmo_lru_sum {
	unsigned long (*pages_of)(const void *owner);
	unsigned long pages;
};

static enum lru_status vmo_lru_sum_one(struct list_head *item, struct list_lru_one *list,
				       void *arg)
{
	struct vmo_lru_sum *sum = arg;

	sum->pages += sum->pages_of(container_of(item, struct vmo_lru_node, lru)->owner);
	return LRU_SKIP;
}

/* The most owners a shrinker's count sums (under the list's lock). */
#define VMO_LRU_COUNT_SAMPLE 256

/*
 * A shrinker's count: the pages @pages_of says the owners on @lru's list of
 * @sc's cgroup and node hold, so that reclaim weighs the shrinker by the
 * memory it could free. The walk holds the list's lock, so it sums at most
 * VMO_LRU_COUNT_SAMPLE owners, the oldest (those a scan takes first); the
 * count of a longer list is their pages scaled to the list's length.
 */
static unsigned long vmo_lru_count_pages(struct list_lru *lru, struct shrink_control *sc,
					 unsigned long (*pages_of)(const void *owner))
{
	struct vmo_lru_sum sum = { .pages_of = pages_of, .pages = 0 };
	unsigned long nr = VMO_LRU_COUNT_SAMPLE, items, walked;

	items = list_lru_count_one(lru, sc->nid, sc->memcg);
	if (!items)
		return SHRINK_EMPTY;
	list_lru_walk_one(lru, sc->nid, sc->memcg, vmo_lru_sum_one, &sum, &nr);
	walked = VMO_LRU_COUNT_SAMPLE - nr;
	if (walked && items > walked)
		sum.pages = mult_frac(sum.pages, items, walked);
	return sum.pages ? sum.pages : SHRINK_EMPTY;
}

/*
 * A registered memcg- and NUMA-aware shrinker @name whose objects are on
 * @lru (initialised here), or NULL without memory.
 */
static struct shrinker *vmo_lru_shrinker_new(const char *name, struct list_lru *lru,
	unsigned long (*count)(struct shrinker *, struct shrink_control *),
	unsigned long (*scan)(struct shrinker *, struct shrink_control *))
{
	struct shrinker *s = shrinker_alloc(SHRINKER_MEMCG_AWARE | SHRINKER_NUMA_AWARE, name);

	if (!s)
		return NULL;
	if (list_lru_init_memcg(lru, s)) {
		shrinker_free(s);
		return NULL;
	}
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	shrinker_register(s);
	return s;
}

static struct kmem_cache *vmo_disc_cache;
static struct list_lru vmo_disc_lru;
static struct shrinker *vmo_disc_shrinker;
static struct workqueue_struct *vmo_disc_workqueue;

/* The pages of the reclaimable VMOs on the list of @sc's cgroup and node. */
static unsigned long vmo_disc_count(struct shrinker *s, struct shrink_control *sc)
{
	return vmo_lru_count_pages(&vmo_disc_lru, sc, vmo_discard_pages);
}

static unsigned long vmo_disc_scan_objects(struct shrinker *s, struct shrink_control *sc)
{
	return vmo_discard_scan(sc->nid, sc->memcg, sc->nr_to_scan, vmo_in_reclaim());
}

int vmo_discard_init(void)
{
	vmo_disc_cache = kmem_cache_create("vmo_disc_node", sizeof(struct vmo_lru_node), 0,
					   SLAB_ACCOUNT, NULL);
	if (!vmo_disc_cache)
		return -ENOMEM;
	vmo_disc_workqueue = alloc_workqueue("vmo-discard", WQ_UNBOUND | WQ_MEM_RECLAIM, 1);
	if (!vmo_disc_workqueue)
		goto free_cache;
	vmo_disc_shrinker = vmo_lru_shrinker_new("vmo-discard", &vmo_disc_lru, vmo_disc_count,
						 vmo_disc_scan_objects);
	if (!vmo_disc_shrinker)
		goto free_wq;
	return 0;
free_wq:
	destroy_workqueue(vmo_disc_workqueue);
free_cache:
	kmem_cache_destroy(vmo_disc_cache);
	return -ENOMEM;
}

/*
 * At module exit, when no VMO is left: shrinker_free() waits for running
 * scans, destroy_workqueue() for the queued punches (which hold the last
 * references of their shmem files), before the tmpfs instance goes.
 */
void vmo_discard_exit(void)
{
	shrinker_free(vmo_disc_shrinker);
	destroy_workqueue(vmo_disc_workqueue);
	list_lru_destroy(&vmo_disc_lru);
	kmem_cache_destroy(vmo_disc_cache);
}

struct workqueue_struct *vmo_discard_wq(void)
{
	return vmo_disc_workqueue;
}

struct vmo_lru_node *vmo_disc_node_new(void)
{
	struct vmo_lru_node *node = kmem_cache_alloc_lru(vmo_disc_cache, &vmo_disc_lru,
							  GFP_KERNEL_ACCOUNT);

	if (node) {
		INIT_LIST_HEAD(&node->lru);
		node->owner = NULL;
	}
	return node;
}

void vmo_disc_node_free(struct vmo_lru_node *node)
{
	kmem_cache_free(vmo_disc_cache, node);
}

bool vmo_disc_lru_add(struct vmo_lru_node *node, void *owner)
{
	node->owner = owner;
	return list_lru_add_obj(&vmo_disc_lru, &node->lru);
}

bool vmo_disc_lru_del(struct vmo_lru_node *node)
{
	return list_lru_del_obj(&vmo_disc_lru, &node->lru);
}

static enum lru_status vmo_disc_isolate(struct list_head *item, struct list_lru_one *list,
					void *arg)
{
	list_lru_isolate(list, item);
	*(const void **)arg = container_of(item, struct vmo_lru_node, lru)->owner;
	return LRU_REMOVED;
}

/* Takes the least recently unlocked node of @memcg's list on @nid; its owner, or NULL. */
void *vmo_disc_lru_pop(int nid, struct mem_cgroup *memcg)
{
	unsigned long nr = 1;
	const void *owner = NULL;

	list_lru_walk_one(&vmo_disc_lru, nid, memcg, vmo_disc_isolate, &owner, &nr);
	return (void *)owner;
}

/*
 * The shrinker of clean pages of pager-backed VMOs (rust/pager/evict.rs). Every VMO
 * whose pages may be evicted has one vmo_lru_node on vmo_evict_lru, made
 * with kmem_cache_alloc_lru() by the task that created the VMO: the pager,
 * whose memory cgroup the pages it supplies are charged to. The node is on
 * that cgroup's list, so the shrinker (SHRINKER_MEMCG_AWARE) evicts a
 * cgroup's own pager pages when the cgroup is at its limit, and global reclaim
 * and drop_caches visit every cgroup's list (a removed cgroup's nodes move to
 * its parent's). The count is the pages of the VMOs on the list asked about
 * (a walk of that list under its lock: a cgroup holds few pager VMOs). The
 * scan takes references to a few of them (rotating them to the tail, so the
 * next scan starts with others) and hands them, with the number of pages
 * asked for, to a worker on the module's workqueue: freeing shmem pages takes
 * the inode lock, which the task in reclaim may hold.
 */
static struct kmem_cache *vmo_evict_cache;
static struct list_lru vmo_evict_lru;
static struct shrinker *vmo_evict_shrinker;

/* The pages the pager VMOs on the list of @sc's cgroup and node hold. */
static unsigned long vmo_evict_count_objects(struct shrinker *s, struct shrink_control *sc)
{
	return vmo_lru_count_pages(&vmo_evict_lru, sc, vmo_evict_pages);
}

static unsigned long vmo_evict_scan_objects(struct shrinker *s, struct shrink_control *sc)
{
	unsigned long n = vmo_evict_scan(sc->nid, sc->memcg, sc->nr_to_scan, vmo_in_reclaim());

	return n ? n : SHRINK_STOP;
}

static enum lru_status vmo_evict_pick_one(struct list_head *item, struct list_lru_one *list,
					  void *picks)
{
	vmo_evict_take(container_of(item, struct vmo_lru_node, lru)->owner, picks);
	return LRU_ROTATE;
}

/*
 * Hands the owners of at most @max nodes of @memcg's list on @nid, from its
 * head, to vmo_evict_take(@picks), and moves them to the tail. Returns how
 * many it handed.
 */
unsigned int vmo_evict_lru_pick(int nid, struct mem_cgroup *memcg, void *picks, unsigned int max)
{
	unsigned long nr = max;

	list_lru_walk_one(&vmo_evict_lru, nid, memcg, vmo_evict_pick_one, picks, &nr);
	return max - nr;
}

/* A node for @owner, on the list of the calling task's memory cgroup; NULL without memory. */
struct vmo_lru_node *vmo_evict_node_new(void *owner)
{
	struct vmo_lru_node *node = kmem_cache_alloc_lru(vmo_evict_cache, &vmo_evict_lru,
							   GFP_KERNEL_ACCOUNT);

	if (!node)
		return NULL;
	INIT_LIST_HEAD(&node->lru);
	node->owner = owner;
	list_lru_add_obj(&vmo_evict_lru, &node->lru);
	return node;
}

/*
 * Takes @node off its list and frees it; returns its owner. No walk sees the
 * owner once this returns (walks hold the list's lock while they look at it).
 */
void *vmo_evict_node_free(struct vmo_lru_node *node)
{
	const void *owner = node->owner;

	list_lru_del_obj(&vmo_evict_lru, &node->lru);
	kmem_cache_free(vmo_evict_cache, node);
	return (void *)owner;
}

int vmo_evict_init(void)
{
	vmo_evict_cache = kmem_cache_create("vmo_evict_node", sizeof(struct vmo_lru_node), 0,
					    SLAB_ACCOUNT, NULL);
	if (!vmo_evict_cache)
		return -ENOMEM;
	vmo_evict_shrinker = vmo_lru_shrinker_new("vmo-pager", &vmo_evict_lru,
						  vmo_evict_count_objects, vmo_evict_scan_objects);
	if (!vmo_evict_shrinker) {
		kmem_cache_destroy(vmo_evict_cache);
		return -ENOMEM;
	}
	return 0;
}

/* At module exit, when no VMO is left: waits for running scans. */
void vmo_evict_exit(void)
{
	shrinker_free(vmo_evict_shrinker);
	list_lru_destroy(&vmo_evict_lru);
	kmem_cache_destroy(vmo_evict_cache);
}

/* The shrinker's count over every node's list of the calling task's memory cgroup (KUnit). */
unsigned long vmo_disc_count_current(void)
{
	struct shrink_control sc = { .gfp_mask = GFP_KERNEL };
	unsigned long pages = 0, n;

	sc.memcg = get_mem_cgroup_from_mm(current->mm);
	for_each_online_node(sc.nid) {
		n = vmo_disc_count(NULL, &sc);
		if (n != SHRINK_EMPTY)
			pages += n;
	}
	mem_cgroup_put(sc.memcg);
	return pages;
}

/* The shrinker's scan of every node's list of the calling task's memory cgroup (KUnit). */
unsigned long vmo_disc_shrink_current(unsigned long nr)
{
	struct mem_cgroup *memcg = get_mem_cgroup_from_mm(current->mm);
	unsigned long freed = 0, n;
	int nid;

	for_each_online_node(nid) {
		if (freed >= nr)
			break;
		n = vmo_discard_scan(nid, memcg, nr - freed, false);
		if (n != SHRINK_STOP)
			freed += n;
	}
	mem_cgroup_put(memcg);
	return freed;
}
