/*
 * log.c - the logger: formats each record once and hands it to the sinks
 * (consoles, files from logger.conf, stderr in the foreground).
 *
 * DESIGN: one mutex protects the sink table and serialises writes, so lines
 * from different threads never interleave. File channels are a sink each;
 * reloading logger.conf builds the new set of files first and swaps it in
 * only when the whole file is valid.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/log.h"
#include "internal.h"

#define LOG_MAX_SINKS 64
#define LOG_MAX_FILES 16

volatile int octo_log_debug_level;

static const char *const log_level_names[OCTO_LOG_LEVELS] = {
	"ERROR", "WARNING", "NOTICE", "VERBOSE", "DEBUG",
};

struct log_sink_slot {
	int id;
	struct octo_log_sink sink;
};

/* A file channel of logger.conf. */
struct log_file {
	char name[128];          /* as in logger.conf, relative to the log folder */
	char path[PATH_MAX];
	FILE *fp;
	unsigned level_mask;
	int max_verbose, max_debug;
	int sink_id;
	char error[128];         /* why it could not be opened, or "" */
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static struct log_sink_slot log_sinks[LOG_MAX_SINKS];
static int log_sink_count;
static int log_next_id = 1;
static int log_stderr_id;
static struct log_file *log_files[LOG_MAX_FILES];
static int log_file_count;
static _Thread_local const char *log_thread_callid;

void octo_log_set_thread_callid(const char *callid)
{
	log_thread_callid = callid;
}

const char *octo_log_thread_callid(void)
{
	return log_thread_callid;
}

const char *octo_log_level_name(enum octo_log_level level)
{
	return (unsigned)level < OCTO_LOG_LEVELS ? log_level_names[level] : "?";
}

int octo_log_level_parse(const char *name)
{
	static const char *const plural[OCTO_LOG_LEVELS] = {
		"errors", "warnings", "notices", "verbose", "debug",
	};

	for (int i = 0; i < OCTO_LOG_LEVELS; i++)
		if (!strcasecmp(name, log_level_names[i]) || !strcasecmp(name, plural[i]))
			return i;
	return -1;
}

static const char *log_basename(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;

	return slash ? slash + 1 : (path ? path : "?");
}

/* The module name of a record: the given one, or the file name without its
 * extension for code that did not define OCTO_MODULE_NAME. */
static const char *log_module_name(const char *module, const char *file, char *buf, size_t size)
{
	char *dot;

	if (module)
		return module;
	octo_strlcpy(buf, log_basename(file), size);
	dot = strrchr(buf, '.');
	if (dot)
		*dot = '\0';
	return buf;
}

static bool log_sink_wants(const struct octo_log_sink *s, const struct octo_log_record *rec)
{
	if (!(s->level_mask & (1u << rec->level)))
		return false;
	if (rec->level == OCTO_LOG_VERBOSE && rec->sublevel > s->max_verbose)
		return false;
	if (rec->level == OCTO_LOG_DEBUG && rec->sublevel > s->max_debug)
		return false;
	return true;
}

void octo_log_full(enum octo_log_level level, int sublevel, const char *module, const char *file,
		   int line, const char *func, const char *callid, const char *fmt, ...)
{
	char message[2048], formatted[2560], modbuf[64], timebuf[32], levelbuf[16];
	struct octo_log_record rec;
	struct tm tm;
	time_t secs;
	va_list ap;
	int n;

	if ((unsigned)level >= OCTO_LOG_LEVELS)
		level = OCTO_LOG_ERROR;
	va_start(ap, fmt);
	n = vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (n < 0)
		octo_strlcpy(message, "(unprintable log message)", sizeof(message));
	/* One record is one line: a newline in the text would forge a second one. */
	for (char *p = message; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	rec.level = level;
	rec.sublevel = (level == OCTO_LOG_VERBOSE || level == OCTO_LOG_DEBUG) ? sublevel : 0;
	if (rec.sublevel < 0)
		rec.sublevel = 0;
	rec.module = log_module_name(module, file, modbuf, sizeof(modbuf));
	rec.file = log_basename(file);
	rec.line = line;
	rec.func = func ? func : "?";
	rec.callid = callid ? callid : log_thread_callid;
	rec.time_us = octo_wall_us();
	rec.message = message;

	secs = (time_t)(rec.time_us / 1000000u);
	localtime_r(&secs, &tm);
	strftime(timebuf, sizeof(timebuf), "%Y-%m-%d %H:%M:%S", &tm);
	if (rec.sublevel)
		snprintf(levelbuf, sizeof(levelbuf), "%s%d", log_level_names[level], rec.sublevel);
	else
		octo_strlcpy(levelbuf, log_level_names[level], sizeof(levelbuf));
	snprintf(formatted, sizeof(formatted), "[%s.%03u] %s[%s]%s%s%s %s:%d %s: %s", timebuf,
		 (unsigned)(rec.time_us / 1000u % 1000u), levelbuf, rec.module,
		 rec.callid ? " [" : "", rec.callid ? rec.callid : "", rec.callid ? "]" : "",
		 rec.file, line, rec.func, message);
	rec.formatted = formatted;

	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_sink_count; i++)
		if (log_sink_wants(&log_sinks[i].sink, &rec))
			log_sinks[i].sink.write(&rec, log_sinks[i].sink.data);
	pthread_mutex_unlock(&log_lock);
}

int octo_log_sink_add(const struct octo_log_sink *sink)
{
	int id;

	if (!sink || !sink->write)
		return OCTO_EINVAL;
	pthread_mutex_lock(&log_lock);
	if (log_sink_count == LOG_MAX_SINKS) {
		pthread_mutex_unlock(&log_lock);
		return OCTO_ENOMEM;
	}
	id = log_next_id++;
	log_sinks[log_sink_count].id = id;
	log_sinks[log_sink_count].sink = *sink;
	log_sink_count++;
	pthread_mutex_unlock(&log_lock);
	return id;
}

void octo_log_sink_set_verbose(int id, int max_verbose)
{
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_sink_count; i++)
		if (log_sinks[i].id == id)
			log_sinks[i].sink.max_verbose = max_verbose;
	pthread_mutex_unlock(&log_lock);
}

static void log_sink_remove_locked(int id)
{
	for (int i = 0; i < log_sink_count; i++) {
		if (log_sinks[i].id == id) {
			memmove(&log_sinks[i], &log_sinks[i + 1],
				(size_t)(log_sink_count - i - 1) * sizeof(log_sinks[0]));
			log_sink_count--;
			return;
		}
	}
}

void octo_log_sink_remove(int id)
{
	pthread_mutex_lock(&log_lock);
	log_sink_remove_locked(id);
	pthread_mutex_unlock(&log_lock);
}

/* ---------------------------------------------------------------- stderr */

static void log_stderr_write(const struct octo_log_record *rec, void *data)
{
	fprintf(stderr, "%s\n", rec->formatted);
}

void octo_log_init(void)
{
	/* Before anything is configured, problems go to stderr. */
	octo_log_stderr(true, 0);
}

void octo_log_stderr(bool on, int verbose)
{
	struct octo_log_sink sink = {
		.write = log_stderr_write,
		.level_mask = (1u << OCTO_LOG_ERROR) | (1u << OCTO_LOG_WARNING) |
			      (1u << OCTO_LOG_NOTICE) | (1u << OCTO_LOG_VERBOSE) |
			      (1u << OCTO_LOG_DEBUG),
		.max_verbose = verbose,
		.max_debug = 5,
	};

	if (log_stderr_id) {
		octo_log_sink_remove(log_stderr_id);
		log_stderr_id = 0;
	}
	if (on)
		log_stderr_id = octo_log_sink_add(&sink);
}

/* ---------------------------------------------------------------- files */

static void log_file_write(const struct octo_log_record *rec, void *data)
{
	struct log_file *lf = data;

	if (lf->fp) {
		fprintf(lf->fp, "%s\n", rec->formatted);
		fflush(lf->fp);
	}
}

/* Parses a level list: "error,warning,notice,verbose(3),debug" or "*". */
static const char *log_parse_levels(const char *text, unsigned *mask, int *max_verbose,
				    int *max_debug)
{
	char buf[256], *save = NULL, *tok;

	*mask = 0;
	*max_verbose = 0;
	*max_debug = 0;
	if (strlen(text) >= sizeof(buf))
		return "level list is too long";
	octo_strlcpy(buf, text, sizeof(buf));
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *open, *end;
		long sub = 5;
		int level;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (!strcmp(tok, "*")) {
			*mask = (1u << OCTO_LOG_LEVELS) - 1;
			*max_verbose = 5;
			*max_debug = 5;
			continue;
		}
		open = strchr(tok, '(');
		if (open) {
			char *close;

			*open = '\0';
			sub = strtol(open + 1, &close, 10);
			if (close == open + 1 || *close != ')' || close[1] || sub < 1 || sub > 5)
				return "level numbers are written verbose(1) .. verbose(5)";
		}
		level = octo_log_level_parse(tok);
		if (level < 0)
			return "unknown level (use error, warning, notice, verbose, debug or *)";
		if (open && level != OCTO_LOG_VERBOSE && level != OCTO_LOG_DEBUG)
			return "only verbose and debug take a number";
		*mask |= 1u << level;
		if (level == OCTO_LOG_VERBOSE)
			*max_verbose = (int)sub;
		if (level == OCTO_LOG_DEBUG)
			*max_debug = (int)sub;
	}
	if (!*mask)
		return "no level given";
	return NULL;
}

static void log_files_free(struct log_file **files, int count)
{
	for (int i = 0; i < count; i++) {
		if (files[i]->fp)
			fclose(files[i]->fp);
		free(files[i]);
	}
}

/* Builds the file channels of logger.conf into `files` (not yet active). */
static int log_build_files(const char *config_dir, struct octo_diags *diags,
			   struct log_file **files, int *count, bool open_them)
{
	struct octo_cfg *cfg;
	const struct octo_cfg_section *sec;
	size_t errors_before = diags->errors;

	*count = 0;
	cfg = octo_cfg_load(config_dir, "logger.conf", true, diags);
	if (!cfg)
		return OCTO_ECONFIG;
	for (sec = octo_cfg_first(cfg); sec; sec = octo_cfg_next(sec)) {
		if (strcmp(sec->name, "logfiles")) {
			octo_diags_add(diags, OCTO_DIAG_WARNING, sec->file, sec->line,
				       "unknown section [%s] (logger.conf has [logfiles])",
				       sec->name);
			continue;
		}
		for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
			struct log_file *lf;
			const char *err;

			if (!v->name[0] || strchr(v->name, '/') || !strcmp(v->name, "..") ||
			    strlen(v->name) >= sizeof(lf->name)) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[logfiles] \"%s\": a log file is a plain file name "
					       "inside the log folder", v->name);
				continue;
			}
			if (*count == LOG_MAX_FILES) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[logfiles] %s: at most %d log files", v->name,
					       LOG_MAX_FILES);
				continue;
			}
			lf = calloc(1, sizeof(*lf));
			if (!lf)
				break;
			octo_strlcpy(lf->name, v->name, sizeof(lf->name));
			err = log_parse_levels(v->value, &lf->level_mask, &lf->max_verbose,
					       &lf->max_debug);
			if (err) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[logfiles] %s: \"%s\": %s", v->name, v->value, err);
				free(lf);
				continue;
			}
			snprintf(lf->path, sizeof(lf->path), "%s/%s",
				 octo_paths.log_dir ? octo_paths.log_dir : ".", lf->name);
			files[(*count)++] = lf;
		}
	}
	octo_cfg_free(cfg);
	if (diags->errors > errors_before) {
		log_files_free(files, *count);
		*count = 0;
		return OCTO_ECONFIG;
	}
	if (open_them) {
		for (int i = 0; i < *count; i++) {
			files[i]->fp = fopen(files[i]->path, "a");
			if (!files[i]->fp)
				snprintf(files[i]->error, sizeof(files[i]->error), "%s",
					 strerror(errno));
		}
	}
	return 0;
}

int octo_logger_check(const char *config_dir, struct octo_diags *diags)
{
	struct log_file *files[LOG_MAX_FILES];
	int count, rc;

	rc = log_build_files(config_dir, diags, files, &count, false);
	log_files_free(files, count);
	return rc;
}

int octo_logger_reload(struct octo_diags *diags)
{
	struct log_file *files[LOG_MAX_FILES], *old[LOG_MAX_FILES];
	int count, old_count, rc;

	rc = log_build_files(octo_paths.config_dir, diags, files, &count, true);
	if (rc)
		return rc;
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_file_count; i++)
		log_sink_remove_locked(log_files[i]->sink_id);
	memcpy(old, log_files, sizeof(old));
	old_count = log_file_count;
	memcpy(log_files, files, sizeof(files));
	log_file_count = count;
	for (int i = 0; i < count; i++) {
		if (log_sink_count == LOG_MAX_SINKS)
			break;
		files[i]->sink_id = log_next_id++;
		log_sinks[log_sink_count].id = files[i]->sink_id;
		log_sinks[log_sink_count].sink = (struct octo_log_sink){
			.write = log_file_write,
			.data = files[i],
			.level_mask = files[i]->level_mask,
			.max_verbose = files[i]->max_verbose,
			.max_debug = files[i]->max_debug,
		};
		log_sink_count++;
	}
	pthread_mutex_unlock(&log_lock);
	log_files_free(old, old_count);
	for (int i = 0; i < count; i++)
		if (files[i]->error[0])
			octo_log(OCTO_WARNING, "log file %s: cannot open: %s", files[i]->path,
				 files[i]->error);
	return 0;
}

/* Renames each file to file.1 (older copies shift up to .9) and reopens. */
static void log_rotate(void)
{
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_file_count; i++) {
		struct log_file *lf = log_files[i];
		char from[PATH_MAX + 16], to[PATH_MAX + 16];

		if (lf->fp)
			fclose(lf->fp);
		for (int n = 8; n >= 1; n--) {
			snprintf(from, sizeof(from), "%s.%d", lf->path, n);
			snprintf(to, sizeof(to), "%s.%d", lf->path, n + 1);
			rename(from, to);
		}
		snprintf(to, sizeof(to), "%s.1", lf->path);
		rename(lf->path, to);
		lf->fp = fopen(lf->path, "a");
		lf->error[0] = '\0';
		if (!lf->fp)
			snprintf(lf->error, sizeof(lf->error), "%s", strerror(errno));
	}
	pthread_mutex_unlock(&log_lock);
}

void octo_log_shutdown(void)
{
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_file_count; i++)
		log_sink_remove_locked(log_files[i]->sink_id);
	log_files_free(log_files, log_file_count);
	log_file_count = 0;
	pthread_mutex_unlock(&log_lock);
}

/* ---------------------------------------------------------------- CLI */

static const char *const log_lower_names[OCTO_LOG_LEVELS] = {
	"error", "warning", "notice", "verbose", "debug",
};

static void log_levels_text(unsigned mask, int max_verbose, int max_debug, char *buf,
			    size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int l = 0; l < OCTO_LOG_LEVELS; l++) {
		if (!(mask & (1u << l)))
			continue;
		if (l == OCTO_LOG_VERBOSE)
			len += (size_t)snprintf(buf + len, size - len, "%sverbose(%d)",
						len ? "," : "", max_verbose);
		else if (l == OCTO_LOG_DEBUG)
			len += (size_t)snprintf(buf + len, size - len, "%sdebug(%d)",
						len ? "," : "", max_debug);
		else
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "",
						log_lower_names[l]);
		if (len >= size)
			break;
	}
}

static int log_cli_show_channels(struct octo_cli_out *out, int argc, char **argv)
{
	char levels[128];

	if (argc != 3)
		return OCTO_CLI_USAGE;
	octo_cli_columns(out, "channel", "type", "status", "levels", NULL);
	pthread_mutex_lock(&log_lock);
	for (int i = 0; i < log_file_count; i++) {
		struct log_file *lf = log_files[i];

		log_levels_text(lf->level_mask, lf->max_verbose, lf->max_debug, levels,
				sizeof(levels));
		octo_cli_row(out, lf->path, "file", lf->fp ? "enabled" : lf->error, levels, NULL);
	}
	for (int i = 0; i < log_sink_count; i++) {
		const struct octo_log_sink *s = &log_sinks[i].sink;
		char name[32];

		if (s->write == log_file_write)
			continue;
		log_levels_text(s->level_mask, s->max_verbose, s->max_debug, levels,
				sizeof(levels));
		snprintf(name, sizeof(name), "%s %d",
			 log_sinks[i].id == log_stderr_id ? "stderr" : "console", log_sinks[i].id);
		octo_cli_row(out, name, log_sinks[i].id == log_stderr_id ? "stderr" : "console",
			     "enabled", levels, NULL);
	}
	pthread_mutex_unlock(&log_lock);
	return OCTO_CLI_OK;
}

static int log_cli_rotate(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc != 2)
		return OCTO_CLI_USAGE;
	log_rotate();
	octo_log(OCTO_NOTICE, "log files rotated");
	octo_cli_printf(out, "Log files rotated.");
	return OCTO_CLI_OK;
}

static int log_cli_reload(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_diags diags = { 0 };
	int rc;

	if (argc != 2)
		return OCTO_CLI_USAGE;
	rc = octo_logger_reload(&diags);
	octo_cli_diags(out, &diags);
	octo_diags_free(&diags);
	if (rc) {
		octo_cli_error(out, "logger.conf not reloaded: the running log channels stay");
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "logger.conf reloaded.");
	return OCTO_CLI_OK;
}

static int log_cli_set_debug(struct octo_cli_out *out, int argc, char **argv)
{
	char *end;
	long level;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	level = strtol(argv[3], &end, 10);
	if (*end || end == argv[3] || level < 0 || level > 5)
		return OCTO_CLI_USAGE;
	octo_log_debug_level = (int)level;
	octo_cli_printf(out, "Debug level is now %ld.", level);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd log_cli[] = {
	{ "logger show channels", "List the log channels and their levels", NULL,
	  log_cli_show_channels, NULL },
	{ "logger rotate", "Rotate the log files (file -> file.1 -> ... file.9)", NULL,
	  log_cli_rotate, NULL },
	{ "logger reload", "Reload logger.conf", NULL, log_cli_reload, NULL },
	{ "core set debug", "Set the debug level of the whole daemon (0-5)",
	  "core set debug <0-5>", log_cli_set_debug, NULL },
	{ 0 }
};

int octo_logger_cli_init(void)
{
	return octo_cli_register_all(NULL, log_cli);
}
