/*
 * sip_moh.c - music on hold for held SIP legs: when the party bridged with
 * a SIP leg puts the call on hold, Octo plays music to that leg itself
 * (sip.conf [general] moh_on_hold, moh_class; the channel variable
 * MOHCLASS picks another class per call) until the call is resumed.
 *
 * DESIGN
 *  - One music thread for the whole module, whatever the number of held
 *    calls: every 20 ms it reads one frame of each class that has
 *    listeners, encodes it once to PCMU and once to PCMA, and sends it to
 *    every listener of the class (sip_media_moh_send: a 172-byte packet
 *    built on the stack). All listeners of a class hear the same music at
 *    the same point, like a radio. Nothing is allocated per packet; a
 *    listener costs one small allocation when the hold starts.
 *  - A class is a folder of sound files (musiconhold.conf, as app_moh
 *    reads it: `directory`, `order`; default moh/<class> in the sound
 *    folder), listed again each time round, so new files play without a
 *    reload. A class without any playable file sends silence (the held
 *    phone still gets RTP, which keeps its NAT binding).
 *  - moh_lock guards the class list and the listener lists. Classes are
 *    created by sip_moh_start() (loop thread) and freed only by the music
 *    thread once they have no listener, so the thread reads files without
 *    the lock. sip_moh_stop() returns once the thread no longer uses the
 *    endpoint (it sends under moh_lock): the caller may then free it.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "octo/config.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/obj.h"
#include "octo/octo.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sound.h"
#include "sip.h"
#include "sip_media.h"

#define MOH_CONF "musiconhold.conf"
#define MOH_NAME_MAX 63
#define MOH_PATH_MAX 4096
#define MOH_FILES_MAX 256
#define MOH_CLASSES_MAX 64      /* classes playing at once */
#define MOH_FRAME_NS 20000000L  /* one frame: 20 ms */
#define MOH_LATE_MS 200         /* further behind than this: the clock starts over */
#define MOH_RELIST_MS 5000      /* an empty folder is listed again this often */

/* ---------------------------------------------------------------- config */

struct moh_conf {
	bool on_hold;
	char *class_name;
};

static const struct octo_cfg_opt moh_opts[] = {
	OCTO_CFG_BOOL("moh_on_hold", struct moh_conf, on_hold, "yes"),
	OCTO_CFG_STR("moh_class", struct moh_conf, class_name, "default", 0),
	OCTO_CFG_END
};

static bool moh_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > MOH_NAME_MAX)
		return false;
	for (; *name; name++)
		if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') ||
		      (*name >= '0' && *name <= '9') || *name == '-' || *name == '_'))
			return false;
	return true;
}

static int moh_conf_check(struct sip_cfg *cfg, void *data, struct octo_diags *diags)
{
	struct moh_conf *mc = data;
	const struct octo_cfg_section *gen = octo_cfg_section(cfg->tree, "general");
	const struct octo_cfg_var *v = gen ? octo_cfg_var_find(gen, "moh_class") : NULL;

	if (moh_name_ok(mc->class_name))
		return 0;
	octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : cfg->tree->file, v ? v->line : 0,
		       "[general] moh_class: \"%s\" is not a class name (letters, digits, - and "
		       "_, at most %d)",
		       mc->class_name ? mc->class_name : "", MOH_NAME_MAX);
	return OCTO_ECONFIG;
}

const struct sip_cfg_part sip_moh_cfg_part = {
	.name = "moh",
	.general = moh_opts,
	.size = sizeof(struct moh_conf),
	.check = moh_conf_check,
};

bool sip_moh_enabled(char *class_name, size_t size)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct moh_conf *mc = cfg ? sip_cfg_part(cfg, &sip_moh_cfg_part) : NULL;
	bool on = mc && mc->on_hold;

	if (class_name && size)
		octo_strlcpy(class_name, mc && mc->class_name ? mc->class_name : "default", size);
	octo_obj_unref(cfg);
	return on;
}

/* ---------------------------------------------------------------- classes */

struct moh_sub {
	struct sip_media *m;
	struct moh_sub *next;
};

struct moh_src {
	char name[MOH_NAME_MAX + 1];
	char dir[MOH_PATH_MAX];
	bool random;
	struct moh_sub *subs; /* moh_lock */
	unsigned nsubs;       /* moh_lock */
	struct moh_src *next; /* moh_lock */
	/* the music thread only */
	char **files;
	int nfiles, next_file;
	bool listed;
	uint64_t relist_ms;
	struct octo_sound *snd;
	unsigned seed;
	uint8_t ulaw[OCTO_FRAME_SAMPLES], alaw[OCTO_FRAME_SAMPLES];
};

static pthread_mutex_t moh_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moh_cond = PTHREAD_COND_INITIALIZER;
static struct moh_src *moh_srcs;
static unsigned moh_listeners;
static bool moh_stopping, moh_running;
static pthread_t moh_thread;

/* The folder and order of class `name` as musiconhold.conf has them (the
 * class "default" and classes without a section: moh/<name>). False when
 * the class is unknown (and not "default"). */
static bool moh_resolve(const char *name, char *dir, size_t size, bool *random)
{
	struct octo_diags diags = { 0 };
	struct octo_cfg *cfg = octo_cfg_load(octo_paths.config_dir, MOH_CONF, true, &diags);
	const struct octo_cfg_section *sec = cfg ? octo_cfg_section(cfg, name) : NULL;
	const struct octo_cfg_var *vd = sec ? octo_cfg_var_find(sec, "directory") : NULL;
	const struct octo_cfg_var *vo = sec ? octo_cfg_var_find(sec, "order") : NULL;
	char rel[MOH_PATH_MAX];
	bool found = sec || !strcmp(name, "default");

	*random = vo && !strcasecmp(vo->value, "random");
	if (vd && *vd->value && !strstr(vd->value, ".."))
		octo_strlcpy(rel, vd->value, sizeof(rel));
	else
		snprintf(rel, sizeof(rel), "moh/%s", name);
	if (rel[0] == '/')
		octo_strlcpy(dir, rel, size);
	else if (snprintf(dir, size, "%s/%s", octo_paths.sound_dir ? octo_paths.sound_dir : ".",
			  rel) >= (int)size) {
		octo_log(OCTO_WARNING, "%s:%d: [%s] directory: the folder's path is over %zu "
			 "characters: the default class plays instead",
			 vd ? vd->file : MOH_CONF, vd ? vd->line : 0, name, size - 1);
		found = false;
	}
	octo_cfg_free(cfg);
	octo_diags_free(&diags);
	return found;
}

static int moh_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void moh_files_free(struct moh_src *s)
{
	for (int i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->files);
	s->files = NULL;
	s->nfiles = 0;
}

/* Lists the folder again: its regular, not hidden files, in name order or
 * shuffled. Music thread. */
static void moh_list(struct moh_src *s)
{
	DIR *d;
	struct dirent *de;
	char path[MOH_PATH_MAX + 256];

	moh_files_free(s);
	s->next_file = 0;
	s->listed = true;
	s->relist_ms = octo_now_ms() + MOH_RELIST_MS;
	d = opendir(s->dir);
	if (!d)
		return;
	while ((de = readdir(d)) && s->nfiles < MOH_FILES_MAX) {
		struct stat st;
		char **grown;

		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", s->dir, de->d_name) >=
			    sizeof(path) ||
		    stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		grown = realloc(s->files, (size_t)(s->nfiles + 1) * sizeof(*grown));
		if (!grown)
			break;
		s->files = grown;
		s->files[s->nfiles++] = octo_strdup(de->d_name);
	}
	closedir(d);
	if (s->nfiles > 1)
		qsort(s->files, (size_t)s->nfiles, sizeof(*s->files), moh_cmp);
	for (int i = s->nfiles - 1; s->random && i > 0; i--) {
		int j = (int)(rand_r(&s->seed) % (unsigned)(i + 1));
		char *t = s->files[i];

		s->files[i] = s->files[j];
		s->files[j] = t;
	}
}

/* Opens the next playable file of the class; false when none is. */
static bool moh_open_next(struct moh_src *s)
{
	char path[MOH_PATH_MAX + 256], err[160];

	for (int tries = 0; tries <= s->nfiles; tries++) {
		if (!s->listed || s->next_file >= s->nfiles) {
			if (s->listed && !s->nfiles && octo_now_ms() < s->relist_ms)
				return false;
			moh_list(s);
			if (!s->nfiles)
				return false;
		}
		snprintf(path, sizeof(path), "%s/%s", s->dir, s->files[s->next_file++]);
		if (octo_sound_open_file(path, &s->snd, err, sizeof(err)) == 0)
			return true;
		s->snd = NULL;
	}
	return false;
}

/* The next 20 ms of the class (silence where nothing plays). */
static void moh_read(struct moh_src *s, int16_t *pcm)
{
	size_t got = 0;
	int ends = 0;

	while (got < OCTO_FRAME_SAMPLES && ends < 3) {
		long r;

		if (!s->snd && !moh_open_next(s))
			break;
		r = octo_sound_read(s->snd, pcm + got, OCTO_FRAME_SAMPLES - got);
		if (r <= 0) {
			octo_sound_close(s->snd);
			s->snd = NULL;
			ends++; /* a folder of empty files must not spin */
			continue;
		}
		got += (size_t)r;
	}
	memset(pcm + got, 0, (OCTO_FRAME_SAMPLES - got) * sizeof(*pcm));
}

static void moh_src_free(struct moh_src *s)
{
	octo_sound_close(s->snd);
	moh_files_free(s);
	free(s);
}

/* ---------------------------------------------------------------- the music thread */

static void moh_encode(const struct octo_codec *c, const int16_t *pcm, uint8_t *out, uint8_t fill)
{
	if (!c || c->encode(pcm, OCTO_FRAME_SAMPLES, out, OCTO_FRAME_SAMPLES) != OCTO_FRAME_SAMPLES)
		memset(out, fill, OCTO_FRAME_SAMPLES);
}

static void moh_timespec_add(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

static void *moh_main(void *arg)
{
	const struct octo_codec *pcmu = NULL, *pcma = NULL;
	struct moh_src *srcs[MOH_CLASSES_MAX];
	int16_t pcm[OCTO_FRAME_SAMPLES];
	struct timespec next, now;

	octo_thread_register("sip moh");
	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&moh_lock);
	while (!moh_stopping) {
		struct moh_src *dead = NULL;
		size_t n = 0;

		if (!moh_srcs) {
			if (pcmu || pcma) {
				pthread_mutex_unlock(&moh_lock);
				if (pcmu)
					octo_registry_put(OCTO_REG_CODEC, pcmu, "chan_sip");
				if (pcma)
					octo_registry_put(OCTO_REG_CODEC, pcma, "chan_sip");
				pcmu = pcma = NULL;
				pthread_mutex_lock(&moh_lock);
				continue;
			}
			pthread_cond_wait(&moh_cond, &moh_lock);
			clock_gettime(CLOCK_MONOTONIC, &next);
			continue;
		}
		for (struct moh_src *s = moh_srcs; s && n < MOH_CLASSES_MAX; s = s->next)
			srcs[n++] = s;
		pthread_mutex_unlock(&moh_lock);

		/* the frame of each class, encoded once per codec */
		if (!pcmu)
			pcmu = octo_registry_get(OCTO_REG_CODEC, "PCMU", "chan_sip");
		if (!pcma)
			pcma = octo_registry_get(OCTO_REG_CODEC, "PCMA", "chan_sip");
		for (size_t i = 0; i < n; i++) {
			moh_read(srcs[i], pcm);
			moh_encode(pcmu, pcm, srcs[i]->ulaw, 0xff);
			moh_encode(pcma, pcm, srcs[i]->alaw, 0xd5);
		}

		pthread_mutex_lock(&moh_lock);
		for (size_t i = 0; i < n; i++)
			for (struct moh_sub *u = srcs[i]->subs; u; u = u->next)
				sip_media_moh_send(u->m, srcs[i]->ulaw, srcs[i]->alaw,
						   OCTO_FRAME_SAMPLES);
		/* classes nobody listens to any more go */
		for (struct moh_src **pp = &moh_srcs; *pp;) {
			struct moh_src *s = *pp;

			if (s->subs) {
				pp = &s->next;
				continue;
			}
			*pp = s->next;
			s->next = dead;
			dead = s;
		}
		pthread_mutex_unlock(&moh_lock);
		while (dead) {
			struct moh_src *s = dead;

			dead = s->next;
			moh_src_free(s);
		}

		/* the next frame is due 20 ms after this one, whatever the work took */
		moh_timespec_add(&next, MOH_FRAME_NS);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - next.tv_sec) * 1000L + (now.tv_nsec - next.tv_nsec) / 1000000L >
		    MOH_LATE_MS)
			next = now; /* far behind (suspended?): start over, no burst */
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
		}
		pthread_mutex_lock(&moh_lock);
	}
	pthread_mutex_unlock(&moh_lock);
	if (pcmu)
		octo_registry_put(OCTO_REG_CODEC, pcmu, "chan_sip");
	if (pcma)
		octo_registry_put(OCTO_REG_CODEC, pcma, "chan_sip");
	octo_thread_unregister();
	return NULL;
}

/* ---------------------------------------------------------------- API */

/* The class and listener of endpoint m (moh_lock held), or NULL. */
static struct moh_sub **moh_find_sub(struct sip_media *m, struct moh_src **src)
{
	for (struct moh_src *s = moh_srcs; s; s = s->next)
		for (struct moh_sub **pp = &s->subs; *pp; pp = &(*pp)->next)
			if ((*pp)->m == m) {
				*src = s;
				return pp;
			}
	return NULL;
}

int sip_moh_start(struct sip_media *m, const char *class_name, char *desc, size_t size)
{
	char name[MOH_NAME_MAX + 1], dir[MOH_PATH_MAX];
	struct moh_src *s = NULL, *fresh = NULL;
	struct moh_sub *sub;
	bool random = false, known;
	size_t count = 0;

	if (desc && size)
		desc[0] = '\0';
	if (!m)
		return OCTO_EINVAL;
	if (class_name && *class_name && moh_name_ok(class_name))
		octo_strlcpy(name, class_name, sizeof(name));
	else
		sip_moh_enabled(name, sizeof(name));
	known = moh_resolve(name, dir, sizeof(dir), &random);
	if (!known) {
		/* as MusicOnHold() does: an unknown class plays the default one */
		octo_strlcpy(name, "default", sizeof(name));
		moh_resolve(name, dir, sizeof(dir), &random);
	}
	sub = calloc(1, sizeof(*sub));
	if (!sub)
		return OCTO_ENOMEM;
	sub->m = m;
	pthread_mutex_lock(&moh_lock);
	if (!moh_running) {
		pthread_mutex_unlock(&moh_lock);
		free(sub);
		return OCTO_EFAIL;
	}
	{
		struct moh_src *had;

		if (moh_find_sub(m, &had)) {
			/* already playing (a second hold) */
			if (desc && size)
				snprintf(desc, size, "class %s (already playing)", had->name);
			pthread_mutex_unlock(&moh_lock);
			free(sub);
			return 0;
		}
	}
	for (struct moh_src *x = moh_srcs; x; x = x->next, count++)
		if (!strcmp(x->name, name) && !strcmp(x->dir, dir))
			s = x;
	if (!s) {
		if (count >= MOH_CLASSES_MAX || !(fresh = calloc(1, sizeof(*fresh)))) {
			pthread_mutex_unlock(&moh_lock);
			free(sub);
			return OCTO_EBUSY;
		}
		s = fresh;
		octo_strlcpy(s->name, name, sizeof(s->name));
		octo_strlcpy(s->dir, dir, sizeof(s->dir));
		s->random = random;
		s->seed = (unsigned)octo_wall_us();
		s->next = moh_srcs;
		moh_srcs = s;
	}
	sub->next = s->subs;
	s->subs = sub;
	s->nsubs++;
	moh_listeners++;
	sip_media_moh(m, true);
	pthread_cond_signal(&moh_cond);
	pthread_mutex_unlock(&moh_lock);
	if (desc && size)
		snprintf(desc, size, "class %s%s (%s)", name,
			 known ? "" : " (the requested class is unknown)", dir);
	return 0;
}

void sip_moh_stop(struct sip_media *m)
{
	struct moh_src *s = NULL;
	struct moh_sub **pp, *sub = NULL;

	/* the common case, every call's end: no music, no lock (start and
	 * stop both run on the loop thread, and a listener exists exactly
	 * while the flag is set) */
	if (!m || !sip_media_moh_on(m))
		return;
	pthread_mutex_lock(&moh_lock);
	pp = moh_find_sub(m, &s);
	if (pp) {
		sub = *pp;
		*pp = sub->next;
		s->nsubs--;
		moh_listeners--;
	}
	/* under moh_lock: the thread is not inside sip_media_moh_send(m) */
	sip_media_moh(m, false);
	pthread_mutex_unlock(&moh_lock);
	free(sub);
}

unsigned sip_moh_count(unsigned *classes)
{
	unsigned n;

	pthread_mutex_lock(&moh_lock);
	n = moh_listeners;
	if (classes) {
		*classes = 0;
		for (struct moh_src *s = moh_srcs; s; s = s->next)
			if (s->subs)
				(*classes)++;
	}
	pthread_mutex_unlock(&moh_lock);
	return n;
}

int sip_moh_init(void)
{
	pthread_mutex_lock(&moh_lock);
	moh_stopping = false;
	if (!moh_running && pthread_create(&moh_thread, NULL, moh_main, NULL) == 0)
		moh_running = true;
	pthread_mutex_unlock(&moh_lock);
	return moh_running ? 0 : OCTO_EFAIL;
}

void sip_moh_fini(void)
{
	struct moh_src *all;

	pthread_mutex_lock(&moh_lock);
	if (!moh_running) {
		pthread_mutex_unlock(&moh_lock);
		return;
	}
	moh_stopping = true;
	pthread_cond_signal(&moh_cond);
	pthread_mutex_unlock(&moh_lock);
	pthread_join(moh_thread, NULL);
	pthread_mutex_lock(&moh_lock);
	moh_running = false;
	all = moh_srcs;
	moh_srcs = NULL;
	moh_listeners = 0;
	pthread_mutex_unlock(&moh_lock);
	while (all) {
		struct moh_src *s = all;

		all = s->next;
		while (s->subs) {
			struct moh_sub *u = s->subs;

			s->subs = u->next;
			sip_media_moh(u->m, false);
			free(u);
		}
		moh_src_free(s);
	}
}
