/*
 * app_moh.c - music on hold: classes of sound files (musiconhold.conf) and
 * the MusicOnHold application that plays one in a loop.
 *
 *   MusicOnHold([class][,duration])
 *   moh show classes                     (CLI)
 *
 * A class is a folder of sound files, relative to the sound folder (octo.conf
 * [directories] sounds) or absolute. Its files are every file in the folder
 * that a loaded sound format reads (by extension), played in name order or
 * shuffled, over and over. The class "default" exists even without a
 * section: the music generated at build time in <sound folder>/moh/default.
 * The folder is listed each time the music starts, so files added to it
 * play without a reload.
 *
 * DESIGN: the classes are one immutable refcounted snapshot swapped in
 * atomically by a reload (moh_lock guards only the pointer); a call holds a
 * reference while it plays.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/sound.h"
#include "audio_common.h"

#define MOH_FILE "musiconhold.conf"
#define MOH_DEFAULT "default"
#define MOH_DEFAULT_DIR "moh/default"
#define MOH_NAME_MAX 63
#define MOH_CLASSES_MAX 256
#define MOH_FILES_MAX 256
#define MOH_PATH_MAX 4096
#define MOH_DURATION_MAX 86400

enum moh_order { MOH_ALPHA = 0, MOH_RANDOM };
static const char *const moh_order_names[] = { "alpha", "random", NULL };

struct moh_class {
	char *name;
	char *directory;   /* as written: relative to the sound folder, or absolute */
	char *description;
	int order;
};

struct moh_set {
	struct moh_class *classes;
	size_t count;
};

static pthread_mutex_t moh_lock = PTHREAD_MUTEX_INITIALIZER;
static struct moh_set *moh_current;

/* ---------------------------------------------------------------- config */

struct moh_cfg {
	char *directory;
	char *description;
	int order;
};

static const struct octo_cfg_opt moh_opts[] = {
	OCTO_CFG_STR("directory", struct moh_cfg, directory, NULL, 0),
	OCTO_CFG_STR("description", struct moh_cfg, description, "", 0),
	OCTO_CFG_ENUM("order", struct moh_cfg, order, "alpha", moh_order_names),
	OCTO_CFG_END
};

static void moh_set_destroy(void *obj)
{
	struct moh_set *set = obj;

	for (size_t i = 0; i < set->count; i++) {
		free(set->classes[i].name);
		free(set->classes[i].directory);
		free(set->classes[i].description);
	}
	free(set->classes);
}

static bool moh_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > MOH_NAME_MAX)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return false;
	return true;
}

/* An absolute folder, or a relative one with no ".." part. */
static bool moh_dir_valid(const char *dir)
{
	const char *p = dir;

	if (!*dir || strlen(dir) >= MOH_PATH_MAX / 2)
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return false;
		p += n;
		if (*p)
			p++;
	}
	return true;
}

static struct moh_class *moh_find(const struct moh_set *set, const char *name)
{
	for (size_t i = 0; i < set->count; i++)
		if (!strcasecmp(set->classes[i].name, name))
			return &set->classes[i];
	return NULL;
}

static int moh_add(struct moh_set *set, const char *name, char *dir, char *desc, int order)
{
	struct moh_class *grown = realloc(set->classes, (set->count + 1) * sizeof(*grown));

	if (!grown)
		return OCTO_ENOMEM;
	set->classes = grown;
	grown[set->count] = (struct moh_class){ .name = octo_strdup(name), .directory = dir,
					       .description = desc, .order = order };
	set->count++;
	return 0;
}

/* Reads musiconhold.conf from `dir`; NULL on errors (all in `diags`). */
static struct moh_set *moh_build(const char *config_dir, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct moh_set *set = octo_obj_alloc(sizeof(*set), moh_set_destroy);
	struct octo_cfg *cfg;
	char clean[OCTO_CFG_CLEAN];
	bool parsed;

	if (!set)
		return NULL;
	cfg = octo_cfg_load(config_dir, MOH_FILE, true, diags);
	for (const struct octo_cfg_section *sec = cfg ? octo_cfg_first(cfg) : NULL; sec;
	     sec = octo_cfg_next(sec)) {
		struct moh_cfg c = { 0 };

		if (!moh_name_valid(sec->name)) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] is not a valid class name (letters, digits, - and _, "
				       "at most %d)", octo_cfg_clean(clean, sec->name),
				       MOH_NAME_MAX);
			continue;
		}
		if (moh_find(set, sec->name)) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] is defined twice", sec->name);
			continue;
		}
		if (set->count >= MOH_CLASSES_MAX) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "more than %d classes", MOH_CLASSES_MAX);
			break;
		}
		if (octo_cfg_bind(sec, moh_opts, &c, NULL, diags)) {
			octo_cfg_unbind(moh_opts, &c);
			continue;
		}
		if (!c.directory) {
			/* default: the folder moh/<class> of the sound folder */
			char d[MOH_NAME_MAX + 8];

			snprintf(d, sizeof(d), "moh/%s", sec->name);
			c.directory = octo_strdup(d);
		} else if (!moh_dir_valid(c.directory)) {
			const struct octo_cfg_var *v = octo_cfg_var_find(sec, "directory");

			octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : sec->file,
				       v ? v->line : sec->line,
				       "[%s] directory: \"%s\" is not a folder name (absolute, or "
				       "relative to the sound folder without ..)", sec->name,
				       octo_cfg_clean(clean, c.directory));
			octo_cfg_unbind(moh_opts, &c);
			continue;
		}
		if (moh_add(set, sec->name, c.directory, c.description, c.order)) {
			octo_cfg_unbind(moh_opts, &c);
			break;
		}
		/* the strings now belong to the set */
		c.directory = c.description = NULL;
		octo_cfg_unbind(moh_opts, &c);
	}
	parsed = cfg != NULL;
	octo_cfg_free(cfg);
	if (!moh_find(set, MOH_DEFAULT)) {
		char *dir = octo_strdup(MOH_DEFAULT_DIR), *desc = octo_strdup("generated music");

		if (moh_add(set, MOH_DEFAULT, dir, desc, MOH_ALPHA)) {
			free(dir);
			free(desc);
			octo_diags_add(diags, OCTO_DIAG_ERROR, MOH_FILE, 0, "out of memory");
		}
	}
	if (diags->errors != errors || !parsed) {
		octo_obj_unref(set);
		return NULL;
	}
	return set;
}

static void moh_install(struct moh_set *set)
{
	struct moh_set *old;

	pthread_mutex_lock(&moh_lock);
	old = moh_current;
	moh_current = set;
	pthread_mutex_unlock(&moh_lock);
	octo_obj_unref(old);
}

/* A new reference on the running classes, or NULL. */
static struct moh_set *moh_get(void)
{
	struct moh_set *set;

	pthread_mutex_lock(&moh_lock);
	set = octo_obj_ref(moh_current);
	pthread_mutex_unlock(&moh_lock);
	return set;
}

/* ---------------------------------------------------------------- files */

static void moh_dir_path(const struct moh_class *c, char *out, size_t size)
{
	if (c->directory[0] == '/')
		snprintf(out, size, "%s", c->directory);
	else
		snprintf(out, size, "%s/%s", octo_paths.sound_dir ? octo_paths.sound_dir : ".",
			 c->directory);
}

static void moh_list_free(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Silence until the deadline (0: the hang-up): frames when the channel
 * takes them, else just the time. */
static int moh_silence(struct audio_player *p)
{
	const struct octo_chan_tech *tech = octo_chan_tech(p->chan);
	struct octo_frame f;

	if (!p->media)
		p->media = tech && tech->write_frame ? 1 : -1;
	while (!audio_player_past(p)) {
		int rc = OCTO_EINVAL;
		uint64_t left, now;

		if (p->media > 0) {
			if (!p->t0_ms)
				p->t0_ms = octo_now_ms();
			octo_frame_silence(&f, OCTO_FRAME_SAMPLES);
			rc = octo_chan_write_frame(p->chan, &f);
		}
		if (rc == OCTO_EHANGUP)
			return rc;
		if (rc == 0) {
			audio_player_count(p, f.samples);
			continue;
		}
		p->media = -1;
		now = octo_now_ms();
		if (p->deadline_ms && now >= p->deadline_ms)
			break;
		left = p->deadline_ms ? p->deadline_ms - now : 1000;
		if (left > 1000)
			left = 1000;
		if (octo_chan_sleep(p->chan, (unsigned)left))
			return OCTO_EHANGUP;
		/* the time passes as if silence were heard */
		p->samples += left * OCTO_FRAME_RATE / 1000;
	}
	return AUDIO_TIME;
}

/* Plays the class until the deadline or the hang-up. */
static int moh_play(struct audio_player *p, const struct moh_class *c, const char *dir)
{
	unsigned seed = (unsigned)octo_wall_us();
	char **names = NULL, path[MOH_PATH_MAX], err[160];
	int n = audio_list_files(dir, MOH_FILES_MAX, &names), rc = AUDIO_END, pass = 0;

	if (n <= 0) {
		octo_chan_step(p->chan, "MusicOnHold: %s %s: silence instead", dir,
			       n < 0 ? "is not a folder" : "has no files");
		moh_list_free(names, n);
		return moh_silence(p);
	}
	octo_chan_step(p->chan, "MusicOnHold: class %s, %d file%s in %s", c->name, n,
		       n == 1 ? "" : "s", dir);
	for (;;) {
		uint64_t before = p->samples;
		int played = 0;

		if (c->order == MOH_RANDOM)
			audio_shuffle(names, n, &seed);
		for (int i = 0; i < n; i++) {
			struct octo_sound *s;

			if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >=
				    sizeof(path) ||
			    octo_sound_open_file(path, &s, err, sizeof(err)))
				continue; /* not a sound file of a loaded format */
			if (!pass) /* the step log is bounded: one round is enough */
				octo_chan_step(p->chan, "MusicOnHold: playing %s", names[i]);
			rc = audio_player_sound(p, s);
			octo_sound_close(s);
			if (rc == AUDIO_TIME || rc == OCTO_EHANGUP)
				goto out;
			played++;
		}
		if (!played || p->samples == before) {
			octo_chan_step(p->chan, "MusicOnHold: no file of %s can be played: silence "
				       "instead", dir);
			rc = moh_silence(p);
			break;
		}
		pass++;
	}
out:
	moh_list_free(names, n);
	return rc;
}

static int moh_exec(struct octo_channel *chan, char *args)
{
	char dir[MOH_PATH_MAX], clean[OCTO_CFG_CLEAN];
	const char *name = MOH_DEFAULT;
	const struct moh_class *c;
	struct audio_player p;
	struct moh_set *set;
	double secs = 0;
	char *argv[3];
	int argc = octo_args_split(args, argv, 3), rc;

	if (argc > 2) {
		octo_chan_step(chan, "MusicOnHold: too many arguments ([class][,duration])");
		return OCTO_EINVAL;
	}
	if (argc >= 1 && *argv[0])
		name = argv[0];
	if (argc == 2 && *argv[1]) {
		char *end;

		secs = strtod(argv[1], &end);
		if (end == argv[1] || *end || !(secs >= 0 && secs <= MOH_DURATION_MAX)) {
			octo_chan_step(chan, "MusicOnHold: duration \"%s\" is not a number of "
				       "seconds (0..%d)", octo_cfg_clean(clean, argv[1]),
				       MOH_DURATION_MAX);
			return OCTO_EINVAL;
		}
	}
	set = moh_get();
	if (!set)
		return OCTO_EFAIL;
	c = moh_find(set, name);
	if (!c) {
		octo_chan_step(chan, "MusicOnHold: no class \"%s\" in %s: the default class plays",
			       octo_cfg_clean(clean, name), MOH_FILE);
		c = moh_find(set, MOH_DEFAULT);
	}
	rc = audio_answer(chan, "MusicOnHold", false);
	if (rc) {
		octo_obj_unref(set);
		return rc;
	}
	moh_dir_path(c, dir, sizeof(dir));
	audio_player_init(&p, chan, "MusicOnHold");
	if (secs > 0)
		p.deadline_ms = octo_now_ms() + (uint64_t)(secs * 1000.0 + 0.5);
	rc = moh_play(&p, c, dir);
	octo_obj_unref(set);
	if (rc == OCTO_EHANGUP)
		return rc;
	octo_chan_step(chan, "MusicOnHold: %.2f s played%s", (double)p.samples / OCTO_FRAME_RATE,
		       rc == AUDIO_TIME ? "" : " (stopped)");
	return OCTO_APP_CONTINUE;
}

/* ---------------------------------------------------------------- CLI */

static int moh_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct moh_set *set;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	set = moh_get();
	if (!set) {
		octo_cli_error(out, "No music on hold classes loaded");
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "class", "order", "files", "folder", "description", NULL);
	for (size_t i = 0; i < set->count; i++) {
		const struct moh_class *c = &set->classes[i];
		char dir[MOH_PATH_MAX], files[16], **names;
		int n;

		moh_dir_path(c, dir, sizeof(dir));
		n = audio_list_files(dir, MOH_FILES_MAX, &names);
		moh_list_free(names, n);
		if (n < 0)
			snprintf(files, sizeof(files), "no folder");
		else
			snprintf(files, sizeof(files), "%d", n);
		octo_cli_row(out, c->name, moh_order_names[c->order], files, dir, c->description,
			     NULL);
	}
	octo_cli_kv(out, "classes", "%zu", set->count);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd moh_cli[] = {
	{ "moh show classes", "List the music on hold classes and their files", NULL,
	  moh_cli_show, NULL },
	{ 0 }
};

static const struct octo_app moh_apps[] = {
	{ .name = "MusicOnHold",
	  .synopsis = "Play music on hold",
	  .syntax = "MusicOnHold([class][,duration])",
	  .description =
		  "Answers the call if needed and plays the files of a music on hold class "
		  "(musiconhold.conf) in a loop.\n"
		  "  class     the class (default: \"default\", the music generated in "
		  "<sound folder>/moh/default unless musiconhold.conf says otherwise); an "
		  "unknown class plays the default one (step log)\n"
		  "  duration  seconds (fractions allowed); empty or 0: until the caller hangs "
		  "up\n"
		  "A class whose folder has no playable file plays silence for the time. Digits "
		  "pressed meanwhile stay for the next application.",
	  .exec = moh_exec },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static void moh_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static int moh_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct moh_set *set = moh_build(octo_paths.config_dir, &diags);

	moh_log_diags(&diags);
	if (!set) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: music on hold not loaded", MOH_FILE,
			 diags.errors, diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	if (octo_app_register_all(self, moh_apps) || octo_cli_register_all(self, moh_cli)) {
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	moh_install(set);
	octo_verbose(2, "music on hold: %zu class%s", set->count, set->count == 1 ? "" : "es");
	return OCTO_LOAD_OK;
}

static int moh_unload(struct octo_module *self)
{
	moh_install(NULL);
	return 0;
}

static int moh_reload(struct octo_module *self, struct octo_diags *diags)
{
	struct moh_set *set = moh_build(octo_paths.config_dir, diags);

	if (!set) {
		octo_log(OCTO_WARNING, "%s: reload refused: the running classes stay", MOH_FILE);
		return OCTO_ECONFIG;
	}
	moh_install(set);
	return 0;
}

static int moh_check(const char *config_dir, struct octo_diags *diags)
{
	struct moh_set *set = moh_build(config_dir, diags);

	if (!set)
		return OCTO_ECONFIG;
	octo_obj_unref(set);
	return 0;
}

OCTO_MODULE(app_moh, .description = "Music on hold (musiconhold.conf) and MusicOnHold",
	    .load = moh_load, .unload = moh_unload, .reload = moh_reload, .check = moh_check);
