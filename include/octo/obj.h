/*
 * obj.h - reference-counted objects and hash containers.
 *
 * OWNERSHIP RULES
 *  - octo_obj_alloc() returns an object with one reference, owned by the caller.
 *  - Functions named *_alloc, *_find, *_get and *_ref return a NEW reference:
 *    the caller must drop it with octo_obj_unref().
 *  - Functions named *_peek BORROW: the pointer is valid only while the caller
 *    holds some other reference (for example on the container or the parent).
 *  - A container link takes its own reference; unlink drops it.
 *  - The destructor runs exactly once, in the thread that drops the last
 *    reference, and must not take a reference on the dying object.
 *  - Refcounts are atomic; the object's own lock (octo_obj_lock) protects the
 *    fields the object's documentation says it protects, nothing more.
 */
#ifndef OCTO_OBJ_H
#define OCTO_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*octo_obj_destructor)(void *obj);

/* Allocates a zeroed object of `size` bytes with one reference. The
 * destructor (may be NULL) releases what the object points to; the memory of
 * the object itself is freed by the core after it. Returns NULL on ENOMEM. */
void *octo_obj_alloc(size_t size, octo_obj_destructor destructor);

/* Adds a reference; returns `obj` (NULL stays NULL). */
void *octo_obj_ref(void *obj);

/* Drops a reference; destroys the object when it was the last. NULL is a no-op. */
void octo_obj_unref(void *obj);

/* Current count, for diagnostics and tests only (racy by nature). */
unsigned octo_obj_refcount(const void *obj);

/* The object's recursive mutex. */
void octo_obj_lock(void *obj);
void octo_obj_unlock(void *obj);

/* ---------------------------------------------------------------- containers
 * A container is itself an object (drop it with octo_obj_unref: it unlinks
 * every member). It is a hash table keyed by a string or an integer that the
 * members carry; the key function reads it from the member and must return
 * the same value for as long as the member is linked. It grows as needed, so
 * lookups stay O(1) with any number of members. It is internally locked
 * (rwlock): every call is thread-safe.
 */
struct octo_container;

enum octo_container_flags {
	OCTO_CONTAINER_NOCASE = 1 << 0, /* string keys compare case-insensitively */
	OCTO_CONTAINER_MULTI = 1 << 1,  /* several members may share a key */
};

typedef const char *(*octo_key_str_fn)(const void *obj);
typedef uint64_t (*octo_key_int_fn)(const void *obj);

/* New container keyed by string / integer. Returns a new reference or NULL. */
struct octo_container *octo_container_alloc_str(octo_key_str_fn key, unsigned flags);
struct octo_container *octo_container_alloc_int(octo_key_int_fn key, unsigned flags);

/* Links `obj` (takes a reference of its own). Returns OCTO_EEXIST when the key
 * is taken and the container is not MULTI. */
int octo_container_link(struct octo_container *c, void *obj);

/* Unlinks `obj` (this exact object) and drops the container's reference.
 * Returns 0, or OCTO_ENOTFOUND. */
int octo_container_unlink(struct octo_container *c, void *obj);

/* Finds a member by key. Returns a NEW reference, or NULL. With MULTI, any one
 * of the members with that key. */
void *octo_container_find(struct octo_container *c, const char *key);
void *octo_container_find_int(struct octo_container *c, uint64_t key);

/* Finds and unlinks in one step; returns the container's reference (now the
 * caller's), or NULL. */
void *octo_container_unlink_key(struct octo_container *c, const char *key);
void *octo_container_unlink_int(struct octo_container *c, uint64_t key);

size_t octo_container_count(struct octo_container *c);
/* Size of the hash table (it doubles when full and halves when an eighth
 * full): for diagnostics and tests. */
size_t octo_container_buckets(struct octo_container *c);

/* Calls cb for each member under the container's read lock; cb must not
 * modify the container. A non-zero return from cb stops the walk and is
 * returned. */
int octo_container_foreach(struct octo_container *c, int (*cb)(void *obj, void *arg), void *arg);

/* A snapshot of the members: an array of NEW references that the caller
 * walks without any lock, then frees with octo_container_snapshot_free().
 * With `cmp`, the array is sorted with qsort semantics on (void **) elements. */
void **octo_container_snapshot(struct octo_container *c, size_t *count,
			       int (*cmp)(const void *a, const void *b));
void octo_container_snapshot_free(void **members, size_t count);

/* Unlinks every member. */
void octo_container_clear(struct octo_container *c);

#endif
