/*
 * test_obj.c - unit tests of core/obj.c (reference-counted objects) and
 * core/container.c (hash containers).
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "octo/obj.h"
#include "octo/octo.h"
#include "octo_test.h"

/* ---------------------------------------------------------------- objects */

static atomic_int destroyed;
static char destroyed_text[64];

struct thing {
	char text[64];
	int value;
};

static void thing_destroy(void *obj)
{
	struct thing *t = obj;

	octo_strlcpy(destroyed_text, t->text, sizeof(destroyed_text));
	atomic_fetch_add(&destroyed, 1);
}

OCTO_TEST(obj_refcount_and_destructor_runs_once)
{
	struct thing *t = octo_obj_alloc(sizeof(*t), thing_destroy);

	atomic_store(&destroyed, 0);
	OCTO_CHECK(t != NULL);
	octo_strlcpy(t->text, "hello", sizeof(t->text));
	OCTO_CHECK_INT_EQ(octo_obj_refcount(t), 1);
	OCTO_CHECK(octo_obj_ref(t) == t);
	OCTO_CHECK(octo_obj_ref(t) == t);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(t), 3);
	octo_obj_unref(t);
	octo_obj_unref(t);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(t), 1);
	OCTO_CHECK_INT_EQ(atomic_load(&destroyed), 0);
	octo_obj_unref(t);
	OCTO_CHECK_INT_EQ(atomic_load(&destroyed), 1);
	OCTO_CHECK_STR_EQ(destroyed_text, "hello");
}

OCTO_TEST(obj_null_is_harmless)
{
	OCTO_CHECK(octo_obj_ref(NULL) == NULL);
	octo_obj_unref(NULL);
	octo_obj_lock(NULL);
	octo_obj_unlock(NULL);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(NULL), 0);
}

OCTO_TEST(obj_memory_is_zeroed_and_aligned)
{
	unsigned char *p = octo_obj_alloc(1000, NULL);
	size_t nonzero = 0;

	OCTO_CHECK(p != NULL);
	for (size_t i = 0; p && i < 1000; i++)
		nonzero += p[i] != 0;
	OCTO_CHECK_INT_EQ(nonzero, 0);
	OCTO_CHECK_INT_EQ((uintptr_t)p % alignof(max_align_t), 0);
	octo_obj_unref(p); /* no destructor: just freed */

	p = octo_obj_alloc(0, NULL);
	OCTO_CHECK(p != NULL);
	octo_obj_unref(p);
	OCTO_CHECK(octo_obj_alloc(SIZE_MAX, NULL) == NULL);
	OCTO_CHECK(octo_obj_alloc(SIZE_MAX - 8, NULL) == NULL);
}

#ifndef NDEBUG
OCTO_TEST(obj_bad_pointer_stops_the_process_in_debug_builds)
{
	/* Room on both sides, so reading the would-be header stays in bounds. */
	_Alignas(max_align_t) unsigned char fake[512] = { 0 };
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, 2);
		octo_obj_unref(fake + 256);
		_exit(0); /* not reached */
	}
	OCTO_CHECK(pid > 0);
	OCTO_CHECK(waitpid(pid, &status, 0) == pid);
	OCTO_CHECK(WIFSIGNALED(status));
	OCTO_CHECK_INT_EQ(WIFSIGNALED(status) ? WTERMSIG(status) : 0, SIGABRT);
}
#endif

static atomic_int lock_acquired;

static void *lock_thread(void *arg)
{
	octo_obj_lock(arg);
	atomic_store(&lock_acquired, 1);
	octo_obj_unlock(arg);
	return NULL;
}

OCTO_TEST(obj_lock_is_recursive_and_exclusive)
{
	struct thing *t = octo_obj_alloc(sizeof(*t), NULL);
	pthread_t thread;

	atomic_store(&lock_acquired, 0);
	octo_obj_lock(t);
	octo_obj_lock(t); /* recursive: does not deadlock */
	OCTO_CHECK_INT_EQ(pthread_create(&thread, NULL, lock_thread, t), 0);
	usleep(20000);
	OCTO_CHECK_INT_EQ(atomic_load(&lock_acquired), 0);
	octo_obj_unlock(t);
	usleep(20000);
	OCTO_CHECK_INT_EQ(atomic_load(&lock_acquired), 0); /* still held once */
	octo_obj_unlock(t);
	pthread_join(thread, NULL);
	OCTO_CHECK_INT_EQ(atomic_load(&lock_acquired), 1);
	octo_obj_unref(t);
}

static void *ref_thread(void *arg)
{
	for (int i = 0; i < 100000; i++) {
		octo_obj_ref(arg);
		octo_obj_unref(arg);
	}
	return NULL;
}

OCTO_TEST(obj_concurrent_refs_keep_the_count)
{
	struct thing *t = octo_obj_alloc(sizeof(*t), thing_destroy);
	pthread_t threads[4];

	atomic_store(&destroyed, 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&threads[i], NULL, ref_thread, t);
	for (int i = 0; i < 4; i++)
		pthread_join(threads[i], NULL);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(t), 1);
	OCTO_CHECK_INT_EQ(atomic_load(&destroyed), 0);
	octo_obj_unref(t);
	OCTO_CHECK_INT_EQ(atomic_load(&destroyed), 1);
}

/* ---------------------------------------------------------------- containers */

struct member {
	char name[32];
	uint64_t num;
	struct octo_container *peek; /* destructor looks this container up */
};

static atomic_int members_destroyed;

static void member_destroy(void *obj)
{
	struct member *m = obj;

	if (m->peek) {
		/* Destructors run without the container's lock held. */
		void *other = octo_container_find(m->peek, "anything");

		octo_obj_unref(other);
	}
	atomic_fetch_add(&members_destroyed, 1);
}

static struct member *member_new(const char *name, uint64_t num)
{
	struct member *m = octo_obj_alloc(sizeof(*m), member_destroy);

	if (m) {
		octo_strlcpy(m->name, name, sizeof(m->name));
		m->num = num;
	}
	return m;
}

static const char *member_name(const void *obj)
{
	const struct member *m = obj;

	return m->name[0] ? m->name : NULL; /* an empty name stands for "no key" */
}

static uint64_t member_num(const void *obj)
{
	return ((const struct member *)obj)->num;
}

OCTO_TEST(container_str_link_find_unlink)
{
	struct octo_container *c = octo_container_alloc_str(member_name, 0);
	struct member *alice = member_new("alice", 1), *bob = member_new("bob", 2);
	struct member *alice2 = member_new("alice", 3), *found;

	atomic_store(&members_destroyed, 0);
	OCTO_CHECK(c != NULL);
	OCTO_CHECK_INT_EQ(octo_container_link(c, alice), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_container_link(c, bob), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(alice), 2);
	OCTO_CHECK_INT_EQ(octo_container_link(c, alice2), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(octo_container_link(c, alice), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(alice2), 1);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 2);

	found = octo_container_find(c, "alice");
	OCTO_CHECK(found == alice);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(alice), 3); /* find returned a new reference */
	octo_obj_unref(found);
	OCTO_CHECK(octo_container_find(c, "ALICE") == NULL);
	OCTO_CHECK(octo_container_find(c, "alic") == NULL);
	OCTO_CHECK(octo_container_find(c, "") == NULL);
	OCTO_CHECK(octo_container_find(c, NULL) == NULL);
	OCTO_CHECK(octo_container_find_int(c, 1) == NULL); /* not an integer container */

	OCTO_CHECK_INT_EQ(octo_container_unlink(c, alice2), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_container_unlink(c, alice), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(alice), 1);
	OCTO_CHECK_INT_EQ(octo_container_unlink(c, alice), OCTO_ENOTFOUND);
	OCTO_CHECK(octo_container_find(c, "alice") == NULL);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 1);
	/* The name is free again. */
	OCTO_CHECK_INT_EQ(octo_container_link(c, alice2), OCTO_OK);

	octo_obj_unref(alice);
	octo_obj_unref(alice2);
	octo_obj_unref(bob);
	OCTO_CHECK_INT_EQ(atomic_load(&members_destroyed), 1);
	octo_obj_unref(c); /* unlinks bob and alice2: their last references */
	OCTO_CHECK_INT_EQ(atomic_load(&members_destroyed), 3);
}

OCTO_TEST(container_bad_arguments)
{
	struct octo_container *c = octo_container_alloc_str(member_name, 0);
	struct member *nameless = member_new("", 0);
	size_t n = 99;

	OCTO_CHECK(octo_container_alloc_str(NULL, 0) == NULL);
	OCTO_CHECK(octo_container_alloc_int(NULL, 0) == NULL);
	OCTO_CHECK_INT_EQ(octo_container_link(c, NULL), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_container_link(NULL, nameless), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_container_link(c, nameless), OCTO_EINVAL); /* NULL key */
	OCTO_CHECK_INT_EQ(octo_obj_refcount(nameless), 1);
	OCTO_CHECK_INT_EQ(octo_container_unlink(c, nameless), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_container_unlink(c, NULL), OCTO_EINVAL);
	OCTO_CHECK(octo_container_unlink_key(c, NULL) == NULL);
	OCTO_CHECK(octo_container_unlink_int(c, 5) == NULL);
	OCTO_CHECK_INT_EQ(octo_container_count(NULL), 0);
	OCTO_CHECK(octo_container_snapshot(NULL, &n, NULL) == NULL);
	OCTO_CHECK_INT_EQ(n, 0);
	OCTO_CHECK_INT_EQ(octo_container_foreach(c, NULL, NULL), OCTO_EINVAL);
	octo_container_clear(NULL);
	octo_container_snapshot_free(NULL, 3);
	octo_obj_unref(nameless);
	octo_obj_unref(c);
}

OCTO_TEST(container_nocase_keys)
{
	struct octo_container *c = octo_container_alloc_str(member_name, OCTO_CONTAINER_NOCASE);
	struct member *a = member_new("Alice", 1), *b = member_new("aLICE", 2), *found;

	OCTO_CHECK_INT_EQ(octo_container_link(c, a), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_container_link(c, b), OCTO_EEXIST);
	found = octo_container_find(c, "ALICE");
	OCTO_CHECK(found == a);
	octo_obj_unref(found);
	found = octo_container_find(c, "alice");
	OCTO_CHECK(found == a);
	octo_obj_unref(found);
	OCTO_CHECK(octo_container_find(c, "alicf") == NULL);
	found = octo_container_unlink_key(c, "aLiCe");
	OCTO_CHECK(found == a);
	OCTO_CHECK_INT_EQ(octo_obj_refcount(a), 2); /* ours + the container's, now ours */
	octo_obj_unref(found);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 0);
	octo_obj_unref(a);
	octo_obj_unref(b);
	octo_obj_unref(c);
}

OCTO_TEST(container_int_keys)
{
	struct octo_container *c = octo_container_alloc_int(member_num, 0);
	struct member *m[3] = { member_new("x", 0), member_new("y", 42),
				member_new("z", UINT64_MAX) };
	struct member *found;

	for (int i = 0; i < 3; i++)
		OCTO_CHECK_INT_EQ(octo_container_link(c, m[i]), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_container_link(c, m[1]), OCTO_EEXIST);
	found = octo_container_find_int(c, 42);
	OCTO_CHECK(found == m[1]);
	octo_obj_unref(found);
	found = octo_container_find_int(c, UINT64_MAX);
	OCTO_CHECK(found == m[2]);
	octo_obj_unref(found);
	found = octo_container_find_int(c, 0);
	OCTO_CHECK(found == m[0]);
	octo_obj_unref(found);
	OCTO_CHECK(octo_container_find_int(c, 43) == NULL);
	OCTO_CHECK(octo_container_find(c, "y") == NULL); /* not a string container */
	OCTO_CHECK(octo_container_unlink_key(c, "y") == NULL);

	found = octo_container_unlink_int(c, 42);
	OCTO_CHECK(found == m[1]);
	octo_obj_unref(found);
	OCTO_CHECK(octo_container_unlink_int(c, 42) == NULL);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 2);
	for (int i = 0; i < 3; i++)
		octo_obj_unref(m[i]);
	octo_obj_unref(c);
}

OCTO_TEST(container_multi_keys)
{
	struct octo_container *c = octo_container_alloc_str(member_name, OCTO_CONTAINER_MULTI);
	struct member *m[3] = { member_new("x", 1), member_new("x", 2), member_new("x", 3) };
	struct member *y = member_new("y", 4), *found;
	uint64_t seen = 0;

	for (int i = 0; i < 3; i++)
		OCTO_CHECK_INT_EQ(octo_container_link(c, m[i]), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_container_link(c, y), OCTO_OK);
	/* The same object cannot be linked twice, even under MULTI. */
	OCTO_CHECK_INT_EQ(octo_container_link(c, m[1]), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 4);
	found = octo_container_find(c, "x");
	OCTO_CHECK(found == m[0] || found == m[1] || found == m[2]);
	octo_obj_unref(found);

	/* Unlinking one exact member leaves the others. */
	OCTO_CHECK_INT_EQ(octo_container_unlink(c, m[1]), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_container_unlink(c, m[1]), OCTO_ENOTFOUND);
	for (int i = 0; i < 2; i++) {
		found = octo_container_unlink_key(c, "x");
		OCTO_CHECK(found != NULL);
		if (found)
			seen |= 1u << found->num;
		octo_obj_unref(found);
	}
	OCTO_CHECK_INT_EQ(seen, (1u << 1) | (1u << 3));
	OCTO_CHECK(octo_container_unlink_key(c, "x") == NULL);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 1);
	for (int i = 0; i < 3; i++)
		OCTO_CHECK_INT_EQ(octo_obj_refcount(m[i]), 1);
	for (int i = 0; i < 3; i++)
		octo_obj_unref(m[i]);
	octo_obj_unref(y);
	octo_obj_unref(c);
}

static int member_cmp(const void *a, const void *b)
{
	const struct member *ma = *(const struct member *const *)a;
	const struct member *mb = *(const struct member *const *)b;

	return strcmp(ma->name, mb->name);
}

OCTO_TEST(container_snapshot_sorted)
{
	static const char *names[] = { "mike", "alice", "zoe", "bob", "carol", "dave" };
	struct octo_container *c = octo_container_alloc_str(member_name, 0);
	struct member **snap;
	size_t n = 99;

	snap = (struct member **)octo_container_snapshot(c, &n, member_cmp);
	OCTO_CHECK(snap != NULL); /* empty, but not a failure */
	OCTO_CHECK_INT_EQ(n, 0);
	octo_container_snapshot_free((void **)snap, n);

	for (size_t i = 0; i < OCTO_ARRAY_LEN(names); i++) {
		struct member *m = member_new(names[i], i);

		octo_container_link(c, m);
		octo_obj_unref(m);
	}
	snap = (struct member **)octo_container_snapshot(c, &n, member_cmp);
	OCTO_CHECK_INT_EQ(n, 6);
	if (snap && n == 6) {
		OCTO_CHECK_STR_EQ(snap[0]->name, "alice");
		OCTO_CHECK_STR_EQ(snap[1]->name, "bob");
		OCTO_CHECK_STR_EQ(snap[2]->name, "carol");
		OCTO_CHECK_STR_EQ(snap[3]->name, "dave");
		OCTO_CHECK_STR_EQ(snap[4]->name, "mike");
		OCTO_CHECK_STR_EQ(snap[5]->name, "zoe");
		OCTO_CHECK_INT_EQ(octo_obj_refcount(snap[0]), 2); /* container + snapshot */
	}
	/* The snapshot keeps its members alive after the container lets go. */
	octo_container_clear(c);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 0);
	if (snap && n == 6) {
		OCTO_CHECK_INT_EQ(octo_obj_refcount(snap[5]), 1);
		OCTO_CHECK_STR_EQ(snap[5]->name, "zoe");
	}
	atomic_store(&members_destroyed, 0);
	octo_container_snapshot_free((void **)snap, n);
	OCTO_CHECK_INT_EQ(atomic_load(&members_destroyed), 6);
	octo_obj_unref(c);
}

struct walk {
	int visited;
	int sum;
};

static int walk_cb(void *obj, void *arg)
{
	struct member *m = obj;
	struct walk *w = arg;

	w->visited++;
	w->sum += (int)m->num;
	return strcmp(m->name, "carol") == 0 ? 7 : 0;
}

static int walk_all_cb(void *obj, void *arg)
{
	struct walk *w = arg;

	w->visited++;
	w->sum += (int)((struct member *)obj)->num;
	return 0;
}

OCTO_TEST(container_foreach_and_stop_value)
{
	static const char *names[] = { "alice", "bob", "carol", "dave" };
	struct octo_container *c = octo_container_alloc_str(member_name, 0);
	struct walk w = { 0, 0 };

	OCTO_CHECK_INT_EQ(octo_container_foreach(c, walk_all_cb, &w), 0);
	OCTO_CHECK_INT_EQ(w.visited, 0);
	for (size_t i = 0; i < OCTO_ARRAY_LEN(names); i++) {
		struct member *m = member_new(names[i], 1u << i);

		octo_container_link(c, m);
		octo_obj_unref(m);
	}
	OCTO_CHECK_INT_EQ(octo_container_foreach(c, walk_all_cb, &w), 0);
	OCTO_CHECK_INT_EQ(w.visited, 4);
	OCTO_CHECK_INT_EQ(w.sum, 15);

	w = (struct walk){ 0, 0 };
	OCTO_CHECK_INT_EQ(octo_container_foreach(c, walk_cb, &w), 7);
	OCTO_CHECK(w.visited >= 1 && w.visited <= 4);
	OCTO_CHECK(w.sum & 4); /* stopped at carol, after visiting her */
	octo_obj_unref(c);
}

OCTO_TEST(container_clear_and_destructor_may_use_container)
{
	struct octo_container *c = octo_container_alloc_str(member_name, 0);

	atomic_store(&members_destroyed, 0);
	for (int i = 0; i < 100; i++) {
		char name[16];
		struct member *m;

		snprintf(name, sizeof(name), "m%d", i);
		m = member_new(name, (uint64_t)i);
		m->peek = c; /* its destructor looks c up: must not deadlock */
		octo_container_link(c, m);
		octo_obj_unref(m);
	}
	OCTO_CHECK_INT_EQ(octo_container_count(c), 100);
	octo_container_clear(c);
	OCTO_CHECK_INT_EQ(octo_container_count(c), 0);
	OCTO_CHECK_INT_EQ(atomic_load(&members_destroyed), 100);

	/* Usable after clear. */
	{
		struct member *m = member_new("again", 1), *found;

		OCTO_CHECK_INT_EQ(octo_container_link(c, m), OCTO_OK);
		found = octo_container_find(c, "again");
		OCTO_CHECK(found == m);
		octo_obj_unref(found);
		octo_obj_unref(m);
	}
	octo_obj_unref(c);
	OCTO_CHECK_INT_EQ(atomic_load(&members_destroyed), 101);
}

OCTO_TEST(container_grows_to_100000_members)
{
	enum { N = 100000 };
	struct octo_container *cs = octo_container_alloc_str(member_name, OCTO_CONTAINER_NOCASE);
	struct octo_container *ci = octo_container_alloc_int(member_num, 0);
	int missing = 0, wrong = 0;

	atomic_store(&members_destroyed, 0);
	for (int i = 0; i < N; i++) {
		char name[32];
		struct member *m;

		snprintf(name, sizeof(name), "Peer-%d", i);
		m = member_new(name, (uint64_t)i * 7919u);
		if (octo_container_link(cs, m) != OCTO_OK || octo_container_link(ci, m) != OCTO_OK)
			missing++;
		octo_obj_unref(m);
	}
	OCTO_CHECK_INT_EQ(missing, 0);
	OCTO_CHECK_INT_EQ(octo_container_count(cs), N);
	OCTO_CHECK_INT_EQ(octo_container_count(ci), N);
	for (int i = 0; i < N; i++) {
		char name[32];
		struct member *a, *b;

		snprintf(name, sizeof(name), "PEER-%d", i);
		a = octo_container_find(cs, name);
		b = octo_container_find_int(ci, (uint64_t)i * 7919u);
		if (!a || !b)
			missing++;
		else if (a != b || a->num != (uint64_t)i * 7919u)
			wrong++;
		octo_obj_unref(a);
		octo_obj_unref(b);
	}
	OCTO_CHECK_INT_EQ(missing, 0);
	OCTO_CHECK_INT_EQ(wrong, 0);
	OCTO_CHECK(octo_container_find(cs, "peer-100000") == NULL);
	OCTO_CHECK(octo_container_find_int(ci, 1) == NULL);

	/* Unlink the even ones through the string container. */
	for (int i = 0; i < N; i += 2) {
		char name[32];
		struct member *m;

		snprintf(name, sizeof(name), "peer-%d", i);
		m = octo_container_unlink_key(cs, name);
		if (!m || octo_container_unlink(ci, m) != OCTO_OK)
			missing++;
		octo_obj_unref(m);
	}
	OCTO_CHECK_INT_EQ(missing, 0);
	OCTO_CHECK_INT_EQ(atomic_load(&members_destroyed), N / 2);
	OCTO_CHECK_INT_EQ(octo_container_count(cs), N / 2);
	for (int i = 0; i < N; i++) {
		struct member *m = octo_container_find_int(ci, (uint64_t)i * 7919u);

		if ((m != NULL) != (i % 2 == 1))
			wrong++;
		octo_obj_unref(m);
	}
	OCTO_CHECK_INT_EQ(wrong, 0);
	octo_obj_unref(cs);
	octo_obj_unref(ci);
	OCTO_CHECK_INT_EQ(atomic_load(&members_destroyed), N);
}

struct race_arg {
	struct octo_container *c;
	int id;
	int errors;
};

enum { RACE_N = 5000 };

static void *race_thread(void *p)
{
	struct race_arg *arg = p;
	char name[32];

	for (int i = 0; i < RACE_N; i++) {
		struct member *m, *found;

		snprintf(name, sizeof(name), "t%d-%d", arg->id, i);
		m = member_new(name, (uint64_t)arg->id);
		if (octo_container_link(arg->c, m) != OCTO_OK)
			arg->errors++;
		octo_obj_unref(m);
		found = octo_container_find(arg->c, name);
		if (found != m)
			arg->errors++;
		octo_obj_unref(found);
		/* Look at another thread's members: present or not, never wrong. */
		snprintf(name, sizeof(name), "t%d-%d", (arg->id + 1) % 4, i);
		found = octo_container_find(arg->c, name);
		if (found &&
		    (found->num != (uint64_t)(arg->id + 1) % 4 || strcmp(found->name, name)))
			arg->errors++;
		octo_obj_unref(found);
		if (i % 2) {
			snprintf(name, sizeof(name), "t%d-%d", arg->id, i);
			found = octo_container_unlink_key(arg->c, name);
			if (!found)
				arg->errors++;
			octo_obj_unref(found);
		}
		if (i % 1000 == 0) {
			size_t n;
			void **snap = octo_container_snapshot(arg->c, &n, NULL);

			if (!snap)
				arg->errors++;
			octo_container_snapshot_free(snap, n);
		}
	}
	return NULL;
}

/* A table that grew for a burst shrinks when the burst is over, and every
 * member left is still found through the rehashing, by either way of
 * unlinking; then it grows again. */
OCTO_TEST(container_shrinks_after_a_burst)
{
	enum { N = 100000 };
	struct octo_container *ci = octo_container_alloc_int(member_num, 0);
	size_t peak;
	int missing = 0, extra = 0;

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			struct member *m = member_new("", (uint64_t)i);

			if (octo_container_link(ci, m) != OCTO_OK)
				missing++;
			octo_obj_unref(m);
		}
		peak = octo_container_buckets(ci);
		OCTO_CHECK(peak >= N);
		/* all but every 1000th go, half of them by key */
		for (int i = 0; i < N; i++) {
			struct member *m;

			if (i % 1000 == 0)
				continue;
			if (i % 2) {
				m = octo_container_unlink_int(ci, (uint64_t)i);
				if (!m)
					missing++;
				octo_obj_unref(m);
			} else {
				m = octo_container_find_int(ci, (uint64_t)i);
				if (!m || octo_container_unlink(ci, m) != OCTO_OK)
					missing++;
				octo_obj_unref(m);
			}
		}
		OCTO_CHECK_INT_EQ(octo_container_count(ci), N / 1000);
		OCTO_CHECK(octo_container_buckets(ci) <= 1024);
		for (int i = 0; i < N; i++) {
			struct member *m = octo_container_find_int(ci, (uint64_t)i);

			if (i % 1000 == 0 && !m)
				missing++;
			if (i % 1000 != 0 && m)
				extra++;
			octo_obj_unref(m);
		}
		for (int i = 0; i < N; i += 1000) {
			struct member *m = octo_container_unlink_int(ci, (uint64_t)i);

			if (!m)
				missing++;
			octo_obj_unref(m);
		}
		OCTO_CHECK_INT_EQ(octo_container_count(ci), 0);
		OCTO_CHECK(octo_container_buckets(ci) <= 32);
	}
	OCTO_CHECK_INT_EQ(missing, 0);
	OCTO_CHECK_INT_EQ(extra, 0);
	octo_obj_unref(ci);
}

OCTO_TEST(container_concurrent_link_find_unlink)
{
	struct octo_container *c = octo_container_alloc_str(member_name, 0);
	struct race_arg args[4];
	pthread_t threads[4];
	int missing = 0;

	for (int i = 0; i < 4; i++) {
		args[i] = (struct race_arg){ c, i, 0 };
		pthread_create(&threads[i], NULL, race_thread, &args[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		OCTO_CHECK_INT_EQ(args[i].errors, 0);
	}
	OCTO_CHECK_INT_EQ(octo_container_count(c), 4 * RACE_N / 2);
	for (int t = 0; t < 4; t++) {
		for (int i = 0; i < RACE_N; i += 2) {
			char name[32];
			void *m;

			snprintf(name, sizeof(name), "t%d-%d", t, i);
			m = octo_container_find(c, name);
			missing += !m;
			octo_obj_unref(m);
		}
	}
	OCTO_CHECK_INT_EQ(missing, 0);
	octo_obj_unref(c);
}

OCTO_TEST_MAIN()
