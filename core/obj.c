/*
 * obj.c - reference-counted objects.
 *
 * DESIGN: every object is one allocation: a small header (magic, atomic
 * refcount, destructor, recursive mutex) followed by the caller's memory,
 * aligned for any type. Pointers handed out point past the header. In debug
 * builds (no NDEBUG) the magic number is checked on every call, so a pointer
 * that did not come from octo_obj_alloc() or an object already destroyed
 * stops the process at the faulty call instead of corrupting memory later.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "octo/obj.h"

#define OBJ_MAGIC 0x6f63746fu      /* "octo" */
#define OBJ_MAGIC_DEAD 0xdeadb10bu /* set just before the memory is freed */

struct obj_hdr {
	uint32_t magic;
	atomic_uint refs;
	octo_obj_destructor destructor;
	pthread_mutex_t lock;
	_Alignas(max_align_t) unsigned char data[];
};

static struct obj_hdr *obj_hdr(const void *obj)
{
	struct obj_hdr *hdr =
		(struct obj_hdr *)((const unsigned char *)obj - offsetof(struct obj_hdr, data));

#ifndef NDEBUG
	if (hdr->magic != OBJ_MAGIC) {
		/* A bug in the caller: the logger may itself use objects, so say it
		 * plainly on stderr and stop here. */
		fprintf(stderr, "octo: %p is not a live object (magic %#x)\n", obj,
			(unsigned)hdr->magic);
		abort();
	}
#endif
	return hdr;
}

void *octo_obj_alloc(size_t size, octo_obj_destructor destructor)
{
	struct obj_hdr *hdr;
	pthread_mutexattr_t attr;

	if (size > SIZE_MAX - sizeof(*hdr))
		return NULL;
	hdr = calloc(1, sizeof(*hdr) + size);
	if (!hdr)
		return NULL;
	if (pthread_mutexattr_init(&attr) != 0) {
		free(hdr);
		return NULL;
	}
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	if (pthread_mutex_init(&hdr->lock, &attr) != 0) {
		pthread_mutexattr_destroy(&attr);
		free(hdr);
		return NULL;
	}
	pthread_mutexattr_destroy(&attr);
	hdr->magic = OBJ_MAGIC;
	hdr->destructor = destructor;
	atomic_init(&hdr->refs, 1);
	return hdr->data;
}

void *octo_obj_ref(void *obj)
{
	if (!obj)
		return NULL;
	/* Taking a reference needs no ordering: the caller already holds one. */
	atomic_fetch_add_explicit(&obj_hdr(obj)->refs, 1, memory_order_relaxed);
	return obj;
}

void octo_obj_unref(void *obj)
{
	struct obj_hdr *hdr;
	unsigned old;

	if (!obj)
		return;
	hdr = obj_hdr(obj);
	/* acq_rel: every write made through other references happens before the
	 * destructor runs in whichever thread drops the last one. */
	old = atomic_fetch_sub_explicit(&hdr->refs, 1, memory_order_acq_rel);
	if (old > 1)
		return;
#ifndef NDEBUG
	if (old == 0) {
		fprintf(stderr, "octo: object %p unreferenced once too often\n", obj);
		abort();
	}
#endif
	if (hdr->destructor)
		hdr->destructor(obj);
	pthread_mutex_destroy(&hdr->lock);
	/* volatile so the store is not dropped as dead right before free() */
	*(volatile uint32_t *)&hdr->magic = OBJ_MAGIC_DEAD;
	free(hdr);
}

unsigned octo_obj_refcount(const void *obj)
{
	if (!obj)
		return 0;
	return atomic_load_explicit(&obj_hdr(obj)->refs, memory_order_relaxed);
}

void octo_obj_lock(void *obj)
{
	if (obj)
		pthread_mutex_lock(&obj_hdr(obj)->lock);
}

void octo_obj_unlock(void *obj)
{
	if (obj)
		pthread_mutex_unlock(&obj_hdr(obj)->lock);
}
