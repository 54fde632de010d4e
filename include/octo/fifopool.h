/*
 * fifopool.h - memory for objects that are given up in about the order
 * they were made, and that outlive a burst: the nonce counts of digest
 * authentication (they expire oldest first), the step logs of the last
 * calls (a ring: the oldest goes when a call ends).
 *
 * Such objects, each a malloc, end up scattered among the short-lived
 * allocations of the calls and transactions of a burst; a few live blocks
 * on each page then keep the heap's pages in memory long after the burst
 * (measured: 36 MB kept after 16,000 REGISTERs, 2 MB of it in use). From a
 * pool they come from 64 KB blocks mapped for them alone and handed out in
 * order, never reused: a block empties as a whole and is unmapped with the
 * last object in it. Objects bigger than a block get a mapping each.
 *
 *   static struct octo_fifo_pool pool = OCTO_FIFO_POOL_INIT;
 *   p = octo_fifo_alloc(&pool, size);   (zeroed, 16-byte aligned)
 *   octo_fifo_free(&pool, p);
 *
 * Not thread-safe: the user serializes the calls on one pool (its lock).
 */
#ifndef OCTO_FIFOPOOL_H
#define OCTO_FIFOPOOL_H

#include <stddef.h>

struct octo_fifo_block;

struct octo_fifo_pool {
	struct octo_fifo_block *current; /* where new objects come from */
	size_t blocks;                   /* mapped, including big ones */
};

#define OCTO_FIFO_POOL_INIT { 0 }

/* Size bytes, zeroed, or NULL (no memory, or size 0). */
void *octo_fifo_alloc(struct octo_fifo_pool *pool, size_t size);

/* Gives p (from this pool, or NULL) back. */
void octo_fifo_free(struct octo_fifo_pool *pool, void *p);

/* Unmaps the block that new objects came from, if nothing in it lives
 * (the others went with their last object). For a shutdown after every
 * object was freed. */
void octo_fifo_pool_release(struct octo_fifo_pool *pool);

/* Blocks mapped (tests, diagnostics). */
size_t octo_fifo_pool_blocks(const struct octo_fifo_pool *pool);

#endif
