/*
 * container.c - hash containers of reference-counted objects, keyed by a
 * string (optionally case-insensitive) or by an integer the members carry.
 *
 * DESIGN: separate chaining with a power-of-two bucket array that doubles
 * when the members outnumber the buckets, so chains stay short. Each node
 * caches its member's hash, which makes rehashing cheap and lets lookups
 * skip most key comparisons. A rwlock guards the table. References the
 * container drops (unlink, clear, destruction) are dropped after the lock is
 * released, because a member's destructor may run then and is free to use
 * this container again.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "octo/obj.h"
#include "octo/octo.h"

#define CT_MIN_BUCKETS 16u

struct ct_node {
	struct ct_node *next;
	void *obj;
	uint64_t hash;
};

struct octo_container {
	pthread_rwlock_t lock;
	bool ready; /* the lock was initialised (for the destructor) */
	unsigned flags;
	octo_key_str_fn key_str; /* exactly one of the two key functions is set */
	octo_key_int_fn key_int;
	struct ct_node **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
};

/* A key as read from a member or given to a lookup. */
struct ct_key {
	const char *str;
	uint64_t num;
	uint64_t hash;
};

/* ---------------------------------------------------------------- hashing */

static inline unsigned char ct_fold(unsigned char ch)
{
	/* ASCII only, independent of the locale, so hash and compare agree. */
	return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch + ('a' - 'A')) : ch;
}

static uint64_t ct_mix(uint64_t x)
{
	/* splitmix64 finaliser: spreads every input bit over the low bits. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t ct_hash_str(const char *s, bool nocase)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= nocase ? ct_fold(*p) : *p;
		h *= 0x100000001b3ull;
	}
	return ct_mix(h);
}

static bool ct_str_eq(const char *a, const char *b, bool nocase)
{
	if (!nocase)
		return strcmp(a, b) == 0;
	for (;; a++, b++) {
		if (ct_fold((unsigned char)*a) != ct_fold((unsigned char)*b))
			return false;
		if (!*a)
			return true;
	}
}

/* ---------------------------------------------------------------- keys */

static bool ct_key_of(const struct octo_container *c, const void *obj, struct ct_key *key)
{
	if (c->key_str) {
		key->str = c->key_str(obj);
		if (!key->str)
			return false;
		key->hash = ct_hash_str(key->str, c->flags & OCTO_CONTAINER_NOCASE);
	} else {
		key->str = NULL;
		key->num = c->key_int(obj);
		key->hash = ct_mix(key->num);
	}
	return true;
}

static bool ct_node_matches(const struct octo_container *c, const struct ct_node *node,
			    const struct ct_key *key)
{
	const char *other;

	if (node->hash != key->hash)
		return false;
	if (!c->key_str)
		return c->key_int(node->obj) == key->num;
	other = c->key_str(node->obj);
	return other && ct_str_eq(other, key->str, c->flags & OCTO_CONTAINER_NOCASE);
}

/* Returns the link pointing at the first node with `key`, or NULL. Caller
 * holds the lock. */
static struct ct_node **ct_lookup(const struct octo_container *c, const struct ct_key *key)
{
	struct ct_node **link = &c->buckets[key->hash & (c->nbuckets - 1)];

	for (; *link; link = &(*link)->next) {
		if (ct_node_matches(c, *link, key))
			return link;
	}
	return NULL;
}

/* Rehashes into `n` buckets (a power of two); on allocation failure the
 * table just stays as it is (slower, still correct). Caller holds the
 * write lock. */
static void ct_resize(struct octo_container *c, size_t n)
{
	struct ct_node **nb;

	if (n > SIZE_MAX / sizeof(*nb))
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct ct_node *node = c->buckets[i], *next;

		for (; node; node = next) {
			next = node->next;
			node->next = nb[node->hash & (n - 1)];
			nb[node->hash & (n - 1)] = node;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nbuckets = n;
}

/* After a removal: a table that grew for a burst (100,000 transactions: a
 * megabyte of buckets) shrinks back when it is mostly empty. Halving at an
 * eighth full leaves it a quarter full, far from the next doubling.
 * Caller holds the write lock. */
static void ct_maybe_shrink(struct octo_container *c)
{
	if (c->nbuckets > CT_MIN_BUCKETS && c->count < c->nbuckets / 8)
		ct_resize(c, c->nbuckets / 2);
}

/* Detaches every node into one list (linked through ->next) and leaves the
 * table empty. Caller holds the write lock. */
static struct ct_node *ct_detach_all(struct octo_container *c)
{
	struct ct_node *all = NULL;

	for (size_t i = 0; i < c->nbuckets; i++) {
		struct ct_node *node = c->buckets[i], *next;

		for (; node; node = next) {
			next = node->next;
			node->next = all;
			all = node;
		}
		c->buckets[i] = NULL;
	}
	c->count = 0;
	if (c->nbuckets > CT_MIN_BUCKETS) {
		struct ct_node **small = calloc(CT_MIN_BUCKETS, sizeof(*small));

		if (small) {
			free(c->buckets);
			c->buckets = small;
			c->nbuckets = CT_MIN_BUCKETS;
		}
	}
	return all;
}

/* Drops the references held by a detached list and frees its nodes. */
static void ct_release_list(struct ct_node *node)
{
	struct ct_node *next;

	for (; node; node = next) {
		next = node->next;
		octo_obj_unref(node->obj);
		free(node);
	}
}

/* ---------------------------------------------------------------- life cycle */

static void ct_destroy(void *obj)
{
	struct octo_container *c = obj;

	if (!c->ready)
		return;
	/* The last reference is gone: nobody else can hold the lock. */
	ct_release_list(ct_detach_all(c));
	free(c->buckets);
	pthread_rwlock_destroy(&c->lock);
}

static struct octo_container *ct_alloc(octo_key_str_fn key_str, octo_key_int_fn key_int,
				       unsigned flags)
{
	struct octo_container *c;

	if (!key_str && !key_int)
		return NULL;
	c = octo_obj_alloc(sizeof(*c), ct_destroy);
	if (!c)
		return NULL;
	c->flags = flags;
	c->key_str = key_str;
	c->key_int = key_int;
	c->nbuckets = CT_MIN_BUCKETS;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets || pthread_rwlock_init(&c->lock, NULL) != 0) {
		free(c->buckets);
		octo_obj_unref(c);
		return NULL;
	}
	c->ready = true;
	return c;
}

struct octo_container *octo_container_alloc_str(octo_key_str_fn key, unsigned flags)
{
	return ct_alloc(key, NULL, flags);
}

struct octo_container *octo_container_alloc_int(octo_key_int_fn key, unsigned flags)
{
	return ct_alloc(NULL, key, flags & ~(unsigned)OCTO_CONTAINER_NOCASE);
}

/* ---------------------------------------------------------------- members */

int octo_container_link(struct octo_container *c, void *obj)
{
	struct ct_node *node, **link;
	struct ct_key key;

	if (!c || !obj)
		return OCTO_EINVAL;
	node = malloc(sizeof(*node));
	if (!node)
		return OCTO_ENOMEM;
	pthread_rwlock_wrlock(&c->lock);
	if (!ct_key_of(c, obj, &key)) {
		pthread_rwlock_unlock(&c->lock);
		free(node);
		return OCTO_EINVAL;
	}
	link = ct_lookup(c, &key);
	if (link) {
		/* A MULTI container takes several members per key, but an object
		 * only once: unlink(obj) must know which link to drop. */
		bool taken = !(c->flags & OCTO_CONTAINER_MULTI);

		for (struct ct_node *n = *link; n && !taken; n = n->next)
			taken = n->obj == obj;
		if (taken) {
			pthread_rwlock_unlock(&c->lock);
			free(node);
			return OCTO_EEXIST;
		}
	}
	if (c->count >= c->nbuckets)
		ct_resize(c, c->nbuckets * 2);
	node->obj = octo_obj_ref(obj);
	node->hash = key.hash;
	link = &c->buckets[key.hash & (c->nbuckets - 1)];
	node->next = *link;
	*link = node;
	c->count++;
	pthread_rwlock_unlock(&c->lock);
	return OCTO_OK;
}

int octo_container_unlink(struct octo_container *c, void *obj)
{
	struct ct_node *node = NULL, **link;
	struct ct_key key;

	if (!c || !obj)
		return OCTO_EINVAL;
	pthread_rwlock_wrlock(&c->lock);
	if (ct_key_of(c, obj, &key)) {
		for (link = &c->buckets[key.hash & (c->nbuckets - 1)]; *link;
		     link = &(*link)->next) {
			if ((*link)->obj == obj) {
				node = *link;
				*link = node->next;
				c->count--;
				ct_maybe_shrink(c);
				break;
			}
		}
	}
	pthread_rwlock_unlock(&c->lock);
	if (!node)
		return OCTO_ENOTFOUND;
	octo_obj_unref(node->obj);
	free(node);
	return OCTO_OK;
}

static void *ct_find(struct octo_container *c, struct ct_key *key)
{
	struct ct_node **link;
	void *obj = NULL;

	pthread_rwlock_rdlock(&c->lock);
	link = ct_lookup(c, key);
	if (link)
		obj = octo_obj_ref((*link)->obj);
	pthread_rwlock_unlock(&c->lock);
	return obj;
}

void *octo_container_find(struct octo_container *c, const char *key)
{
	struct ct_key k;

	if (!c || !key || !c->key_str)
		return NULL;
	k.str = key;
	k.hash = ct_hash_str(key, c->flags & OCTO_CONTAINER_NOCASE);
	return ct_find(c, &k);
}

void *octo_container_find_int(struct octo_container *c, uint64_t key)
{
	struct ct_key k;

	if (!c || !c->key_int)
		return NULL;
	k.str = NULL;
	k.num = key;
	k.hash = ct_mix(key);
	return ct_find(c, &k);
}

static void *ct_unlink_key(struct octo_container *c, struct ct_key *key)
{
	struct ct_node **link, *node;
	void *obj = NULL;

	pthread_rwlock_wrlock(&c->lock);
	link = ct_lookup(c, key);
	if (link) {
		node = *link;
		*link = node->next;
		c->count--;
		ct_maybe_shrink(c);
		obj = node->obj; /* the container's reference becomes the caller's */
		free(node);
	}
	pthread_rwlock_unlock(&c->lock);
	return obj;
}

void *octo_container_unlink_key(struct octo_container *c, const char *key)
{
	struct ct_key k;

	if (!c || !key || !c->key_str)
		return NULL;
	k.str = key;
	k.hash = ct_hash_str(key, c->flags & OCTO_CONTAINER_NOCASE);
	return ct_unlink_key(c, &k);
}

void *octo_container_unlink_int(struct octo_container *c, uint64_t key)
{
	struct ct_key k;

	if (!c || !c->key_int)
		return NULL;
	k.str = NULL;
	k.num = key;
	k.hash = ct_mix(key);
	return ct_unlink_key(c, &k);
}

size_t octo_container_count(struct octo_container *c)
{
	size_t n;

	if (!c)
		return 0;
	pthread_rwlock_rdlock(&c->lock);
	n = c->count;
	pthread_rwlock_unlock(&c->lock);
	return n;
}

size_t octo_container_buckets(struct octo_container *c)
{
	size_t n;

	if (!c)
		return 0;
	pthread_rwlock_rdlock(&c->lock);
	n = c->nbuckets;
	pthread_rwlock_unlock(&c->lock);
	return n;
}

int octo_container_foreach(struct octo_container *c, int (*cb)(void *obj, void *arg), void *arg)
{
	int ret = 0;

	if (!c || !cb)
		return OCTO_EINVAL;
	pthread_rwlock_rdlock(&c->lock);
	for (size_t i = 0; i < c->nbuckets && !ret; i++) {
		for (struct ct_node *node = c->buckets[i]; node && !ret; node = node->next)
			ret = cb(node->obj, arg);
	}
	pthread_rwlock_unlock(&c->lock);
	return ret;
}

void **octo_container_snapshot(struct octo_container *c, size_t *count,
			       int (*cmp)(const void *a, const void *b))
{
	void **members;
	size_t n = 0;

	if (count)
		*count = 0;
	if (!c || !count)
		return NULL;
	pthread_rwlock_rdlock(&c->lock);
	/* At least one slot, so that NULL only ever means failure. */
	members = malloc((c->count ? c->count : 1) * sizeof(*members));
	if (!members) {
		pthread_rwlock_unlock(&c->lock);
		return NULL;
	}
	for (size_t i = 0; i < c->nbuckets; i++) {
		for (struct ct_node *node = c->buckets[i]; node; node = node->next)
			members[n++] = octo_obj_ref(node->obj);
	}
	pthread_rwlock_unlock(&c->lock);
	if (cmp && n > 1)
		qsort(members, n, sizeof(*members), cmp);
	*count = n;
	return members;
}

void octo_container_snapshot_free(void **members, size_t count)
{
	if (!members)
		return;
	for (size_t i = 0; i < count; i++)
		octo_obj_unref(members[i]);
	free(members);
}

void octo_container_clear(struct octo_container *c)
{
	struct ct_node *all;

	if (!c)
		return;
	pthread_rwlock_wrlock(&c->lock);
	all = ct_detach_all(c);
	pthread_rwlock_unlock(&c->lock);
	ct_release_list(all);
}
