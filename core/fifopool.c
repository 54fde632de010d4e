/*
 * fifopool.c - memory handed out in order from blocks of its own, each
 * unmapped with its last object (see octo/fifopool.h).
 *
 * Each object is preceded by a header naming its block, so that a free
 * finds the block without a lookup; headers and objects are 16-byte
 * aligned, as malloc's are.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "octo/fifopool.h"

#define FIFO_BLOCK_BYTES 65536u
#define FIFO_ALIGN 16u

struct octo_fifo_block {
	size_t size; /* of the mapping */
	size_t used; /* bytes handed out, from the start of the block */
	size_t live; /* objects not yet freed */
	size_t pad_; /* keeps what follows 16-byte aligned */
};

struct fifo_head {
	struct octo_fifo_block *block;
	size_t pad_;
};

#define FIFO_ROUND(n) (((n) + FIFO_ALIGN - 1) & ~(size_t)(FIFO_ALIGN - 1))

static struct octo_fifo_block *fifo_map(struct octo_fifo_pool *pool, size_t size)
{
	struct octo_fifo_block *b = mmap(NULL, size, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return NULL;
	b->size = size; /* the rest is zeroed by the kernel */
	b->used = sizeof(*b);
	pool->blocks++;
	return b;
}

static void fifo_unmap(struct octo_fifo_pool *pool, struct octo_fifo_block *b)
{
	munmap(b, b->size);
	pool->blocks--;
}

void *octo_fifo_alloc(struct octo_fifo_pool *pool, size_t size)
{
	size_t need;
	struct octo_fifo_block *b = pool->current;
	struct fifo_head *h;

	if (!size || size > SIZE_MAX / 2)
		return NULL;
	need = sizeof(*h) + FIFO_ROUND(size);
	if (need > FIFO_BLOCK_BYTES - sizeof(*b)) {
		/* a mapping of its own, unmapped when it is freed */
		size_t page = 4096, map = (sizeof(*b) + need + page - 1) & ~(page - 1);

		b = fifo_map(pool, map);
		if (!b)
			return NULL;
	} else if (!b || FIFO_BLOCK_BYTES - b->used < need) {
		/* a full block still mapped has objects: it goes with its last */
		b = fifo_map(pool, FIFO_BLOCK_BYTES);
		if (!b)
			return NULL;
		pool->current = b;
	}
	h = (struct fifo_head *)((char *)b + b->used);
	b->used += need;
	b->live++;
	h->block = b;
	return memset(h + 1, 0, size); /* fresh pages are zero; be sure anyway */
}

void octo_fifo_free(struct octo_fifo_pool *pool, void *p)
{
	struct octo_fifo_block *b;

	if (!p)
		return;
	b = ((struct fifo_head *)p - 1)->block;
	if (--b->live)
		return;
	if (b == pool->current) {
		/* empty: start again at its beginning rather than map another */
		b->used = sizeof(*b);
		return;
	}
	fifo_unmap(pool, b);
}

void octo_fifo_pool_release(struct octo_fifo_pool *pool)
{
	if (pool->current && !pool->current->live) {
		fifo_unmap(pool, pool->current);
		pool->current = NULL;
	}
}

size_t octo_fifo_pool_blocks(const struct octo_fifo_pool *pool)
{
	return pool->blocks;
}
