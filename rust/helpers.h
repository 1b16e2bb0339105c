/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shims of the vmo module (helpers.c). Their Rust declarations are
 * generated from this file by bindgen at build time (Kbuild: every vmo_*
 * function and type, into rust/helpers_generated.rs) and made visible to the
 * rest of the module by rust/ffi.rs. The header is self-contained: bindgen
 * parses it alone.
 */
#ifndef VMO_HELPERS_H
#define VMO_HELPERS_H

#include <linux/types.h>
#include <linux/mm_types.h>	/* vm_fault_t */

struct file;
struct file_operations;
struct rcu_head;
struct inode;
struct inode_operations;
struct vm_area_struct;
struct vm_fault;

typedef int (*vmo_page_fn)(void *ctx, void *kaddr, size_t len, loff_t pos, bool uptodate);
/* A run of present bytes, mapped in the kernel for the call of a vmo_runs_fn. */
struct vmo_run {
	char *kaddr;
	size_t len;
};
typedef int (*vmo_runs_fn)(void *ctx, const struct vmo_run *runs, unsigned int n);
typedef int (*vmo_src_fn)(void *ctx, pgoff_t index, struct file **src, pgoff_t *src_index);

int vmo_shmem_mount(void);
void vmo_shmem_unmount(void);
struct file *vmo_shmem_setup(loff_t size, u64 koid);
int vmo_shmem_commit(struct file *file, loff_t off, loff_t len);
int vmo_shmem_punch(struct file *file, loff_t off, loff_t len);
void vmo_shmem_decommit_pages(struct file *file, loff_t off, loff_t len);
ssize_t vmo_shmem_rw(struct file *file, void __user *buf, size_t len, loff_t pos, bool write,
		     bool nofault);
ssize_t vmo_shmem_write_kernel(struct file *file, const void *buf, size_t len, loff_t pos);
int vmo_shmem_set_size(struct file *file, loff_t size);
u64 vmo_shmem_committed(struct file *file);
long vmo_shmem_for_each_page(struct file *file, loff_t start, loff_t end,
			     vmo_page_fn fn, void *ctx);
long vmo_shmem_for_each_run(struct file *file, loff_t start, loff_t end, vmo_runs_fn fn,
			    void *ctx);
long vmo_shmem_for_each_data_page(struct file *file, loff_t start, loff_t end,
				  vmo_page_fn fn, void *ctx);
int vmo_shmem_fill(struct file *file, loff_t pos, const void *src, size_t len);
pgoff_t vmo_shmem_find_hole(struct file *file, pgoff_t start, pgoff_t end, pgoff_t *hole_end,
			    bool data_only);
loff_t vmo_shmem_size(struct file *file);
void vmo_shmem_unmap(struct file *file, loff_t off, loff_t len);
void vmo_shmem_write_protect(struct file *file, pgoff_t start, pgoff_t end);
int vmo_cow_fill(struct file *dst, pgoff_t index, vmo_src_fn src_of, void *ctx);
int vmo_cow_write_user(struct file *file, loff_t pos, void __user *buf, size_t len);
int vmo_cow_read_user(struct file *src, loff_t pos, void __user *buf, size_t len);
bool vmo_fault_in_user(void __user *buf, size_t len, bool write);
pgoff_t vmo_shmem_quiesce(struct file *file, pgoff_t start, pgoff_t end);
bool vmo_fault_lock_folio(struct vm_fault *vmf);
void vmo_fault_unlock_folio(struct vm_fault *vmf);
bool vmo_fault_sequential(struct vm_fault *vmf);
void vmo_shmem_drop_pages(struct file *file);
vm_fault_t vmo_shmem_fault_get(struct vm_fault *vmf, bool alloc, bool *hole);
bool vmo_fault_release_lock(struct vm_fault *vmf);

struct file *vmo_fd_file_new(struct file *shmem, const struct file_operations *fops,
			     const struct inode_operations *iops, u64 koid, bool writable,
			     bool exec, void *inode_priv, void *file_priv);
void vmo_fd_unpin(struct inode *inode);
void *vmo_vma_fd_priv(struct vm_area_struct *vma);
int vmo_wait_done(int *done, bool killable);
int vmo_current_tid(void);
/* Frees @ptr (kmalloc'd) with kvfree after an RCU grace period; @head lies inside it. */
void vmo_kfree_rcu(void *ptr, struct rcu_head *head);
void vmo_set_done(int *done, int value);

/* Implemented in Rust (rust/vmofd.rs): a VMO fd's inode is evicted. */
void vmo_fd_inode_release(void *vmo);

/* Discardable VMOs: the memcg-aware LRU and the shrinker (rust/discard.rs). */
struct vmo_lru_node;
struct mem_cgroup;
int vmo_discard_init(void);
void vmo_discard_exit(void);
struct workqueue_struct *vmo_discard_wq(void);
struct vmo_lru_node *vmo_disc_node_new(void);
void vmo_disc_node_free(struct vmo_lru_node *node);
bool vmo_disc_lru_add(struct vmo_lru_node *node, void *owner);
bool vmo_disc_lru_del(struct vmo_lru_node *node);
void *vmo_disc_lru_pop(int nid, struct mem_cgroup *memcg);
unsigned long vmo_disc_shrink_current(unsigned long nr);
unsigned long vmo_disc_count_current(void);
/* Implemented in Rust (rust/discard.rs). */
unsigned long vmo_discard_scan(int nid, struct mem_cgroup *memcg, unsigned long nr, bool reclaim);
unsigned long vmo_discard_pages(const void *owner);
int vmo_evict_init(void);
void vmo_evict_exit(void);
struct vmo_lru_node *vmo_evict_node_new(void *owner);
void *vmo_evict_node_free(struct vmo_lru_node *node);
unsigned int vmo_evict_lru_pick(int nid, struct mem_cgroup *memcg, void *picks, unsigned int max);
/* Implemented in Rust (rust/pager/evict.rs). */
unsigned long vmo_evict_pages(const void *owner);
void vmo_evict_take(const void *owner, void *picks);
unsigned long vmo_evict_scan(int nid, struct mem_cgroup *memcg, unsigned long nr, bool reclaim);

#ifdef CONFIG_X86
unsigned int vmo_x86_clflush_size(void);
bool vmo_x86_has_clwb(void);
bool vmo_x86_has_clflushopt(void);
bool vmo_x86_has_clflush(void);
void vmo_x86_sync_core(void);
#endif

#endif /* VMO_HELPERS_H */
