/*
 * test_fifopool.c - core/fifopool.c: objects come zeroed and aligned, in
 * blocks of 64 KB; a block is unmapped with its last object, whatever the
 * order within it; the block in use starts again when it empties; an
 * object bigger than a block gets a mapping of its own.
 */
#include <stdint.h>
#include <string.h>

#include "octo/fifopool.h"
#include "octo_test.h"

OCTO_TEST(objects_come_zeroed_and_aligned)
{
	struct octo_fifo_pool pool = OCTO_FIFO_POOL_INIT;
	char *p[100];

	for (int i = 0; i < 100; i++) {
		p[i] = octo_fifo_alloc(&pool, 1 + (size_t)i * 7);
		OCTO_CHECK(p[i] != NULL);
		OCTO_CHECK((uintptr_t)p[i] % 16 == 0);
		for (int k = 0; k < 1 + i * 7; k++)
			OCTO_CHECK(p[i][k] == 0);
		memset(p[i], 0xa5, 1 + (size_t)i * 7); /* no overlap: checked below */
	}
	for (int i = 0; i < 100; i++)
		OCTO_CHECK((unsigned char)p[i][i * 7] == 0xa5);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 1);
	/* freed and made again: the block starts over, the new ones are zero */
	for (int i = 0; i < 100; i++)
		octo_fifo_free(&pool, p[i]);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 1);
	p[0] = octo_fifo_alloc(&pool, 64);
	OCTO_CHECK(p[0] != NULL);
	for (int k = 0; k < 64; k++)
		OCTO_CHECK(p[0][k] == 0);
	octo_fifo_free(&pool, p[0]);
	octo_fifo_free(&pool, NULL);
	OCTO_CHECK(octo_fifo_alloc(&pool, 0) == NULL);
	octo_fifo_pool_release(&pool);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 0);
}

/* 10,000 objects of 100 bytes (128 with rounding and header): 20 blocks. A ring of
 * 256 of them, as the call history keeps: the blocks of the old ones go. */
OCTO_TEST(blocks_go_with_their_last_object)
{
	static void *p[10000];
	struct octo_fifo_pool pool = OCTO_FIFO_POOL_INIT;
	size_t all;

	for (int i = 0; i < 10000; i++)
		OCTO_CHECK((p[i] = octo_fifo_alloc(&pool, 100)) != NULL);
	all = octo_fifo_pool_blocks(&pool);
	OCTO_CHECK(all >= 10000 * 128 / 65536 && all <= 10000 * 128 / 65536 + 1);
	/* out of order within the first half: the blocks go all the same */
	for (int i = 4999; i >= 0; i--)
		octo_fifo_free(&pool, p[i]);
	OCTO_CHECK(octo_fifo_pool_blocks(&pool) <= all / 2 + 2);
	/* the last one kept back: its block stays, the others go */
	for (int i = 5000; i < 9999; i++)
		octo_fifo_free(&pool, p[i]);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 1);
	octo_fifo_free(&pool, p[9999]);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 1); /* in use, empty */
	/* a ring of 256: bounded, whatever goes through it */
	for (int i = 0; i < 256; i++)
		p[i] = octo_fifo_alloc(&pool, 300);
	for (int i = 256; i < 10000; i++) {
		octo_fifo_free(&pool, p[i % 256]);
		OCTO_CHECK((p[i % 256] = octo_fifo_alloc(&pool, 300)) != NULL);
		OCTO_CHECK(octo_fifo_pool_blocks(&pool) <= 256 * 320 / 65536 + 2);
	}
	for (int i = 0; i < 256; i++)
		octo_fifo_free(&pool, p[i]);
	octo_fifo_pool_release(&pool);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 0);
}

OCTO_TEST(big_object_gets_a_mapping_of_its_own)
{
	struct octo_fifo_pool pool = OCTO_FIFO_POOL_INIT;
	char *small = octo_fifo_alloc(&pool, 10), *big = octo_fifo_alloc(&pool, 200000);

	OCTO_CHECK(small && big);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 2);
	OCTO_CHECK(big[199999] == 0);
	memset(big, 1, 200000);
	octo_fifo_free(&pool, big);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 1);
	octo_fifo_free(&pool, small);
	octo_fifo_pool_release(&pool);
	OCTO_CHECK_INT_EQ(octo_fifo_pool_blocks(&pool), 0);
}

OCTO_TEST_MAIN()
