/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C shims of the vmo module (helpers.c). Their Rust declarations are in
 * rust/shmem.rs and rust/arch/x86_64.rs; keep the three in step.
 */
#ifndef VMO_HELPERS_H
#define VMO_HELPERS_H

#include <linux/types.h>

struct file;

typedef int (*vmo_page_fn)(void *ctx, void *kaddr, size_t len, loff_t pos, bool uptodate);

struct file *vmo_shmem_setup(loff_t size);
int vmo_shmem_commit(struct file *file, loff_t off, loff_t len);
int vmo_shmem_punch(struct file *file, loff_t off, loff_t len);
ssize_t vmo_shmem_rw(struct file *file, void __user *buf, size_t len, loff_t pos, bool write);
ssize_t vmo_shmem_write_kernel(struct file *file, const void *buf, size_t len, loff_t pos);
int vmo_shmem_set_size(struct file *file, loff_t size);
u64 vmo_shmem_committed(struct file *file);
long vmo_shmem_for_each_page(struct file *file, loff_t start, loff_t end,
			     vmo_page_fn fn, void *ctx);

#ifdef CONFIG_X86
unsigned int vmo_x86_clflush_size(void);
bool vmo_x86_has_clwb(void);
bool vmo_x86_has_clflushopt(void);
bool vmo_x86_has_clflush(void);
void vmo_x86_sync_core(void);
#endif

#endif /* VMO_HELPERS_H */
