/*
 * cli_core.c - the "core ..." commands: version, uptime, settings, threads,
 * memory, stop, reload and the boot-state commands that scripts wait on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/heaptrim.h"
#include "octo/log.h"
#include "octo/sched.h"
#include "internal.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0"
#endif

void octo_cli_diags(struct octo_cli_out *out, const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++) {
		if (diags->items[i].severity == OCTO_DIAG_ERROR)
			octo_cli_error(out, "%s", diags->items[i].message);
		else
			octo_cli_printf(out, "warning: %s", diags->items[i].message);
	}
}

/* "2 days, 3 hours, 4 minutes, 5 seconds" */
static void core_format_duration(uint64_t secs, char *buf, size_t size)
{
	unsigned long d = (unsigned long)(secs / 86400), h = (unsigned long)(secs / 3600 % 24);
	unsigned long m = (unsigned long)(secs / 60 % 60), s = (unsigned long)(secs % 60);
	size_t len = 0;

	buf[0] = '\0';
	if (d)
		len += (size_t)snprintf(buf + len, size - len, "%lu day%s, ", d, d == 1 ? "" : "s");
	if ((d || h) && len < size)
		len += (size_t)snprintf(buf + len, size - len, "%lu hour%s, ", h, h == 1 ? "" : "s");
	if ((d || h || m) && len < size)
		len += (size_t)snprintf(buf + len, size - len, "%lu minute%s, ", m,
					m == 1 ? "" : "s");
	if (len < size)
		snprintf(buf + len, size - len, "%lu second%s", s, s == 1 ? "" : "s");
}

static void core_format_time(uint64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static int core_cli_version(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc != 3)
		return OCTO_CLI_USAGE;
	octo_cli_kv(out, "version", "%s", PACKAGE_VERSION);
	octo_cli_kv(out, "module abi", "%d", OCTO_MODULE_ABI);
	octo_cli_kv(out, "built", "%s %s", __DATE__, __TIME__);
	return OCTO_CLI_OK;
}

static int core_cli_uptime(struct octo_cli_out *out, int argc, char **argv)
{
	char since[64], up[128], last[64], ago[128];
	uint64_t now = octo_wall_us();

	if (argc != 3)
		return OCTO_CLI_USAGE;
	core_format_time(octo_start_time_us, since, sizeof(since));
	core_format_duration((now - octo_start_time_us) / 1000000u, up, sizeof(up));
	core_format_time(octo_reload_time_us, last, sizeof(last));
	core_format_duration((now - octo_reload_time_us) / 1000000u, ago, sizeof(ago));
	octo_cli_kv(out, "system uptime", "%s", up);
	octo_cli_kv(out, "started", "%s", since);
	octo_cli_kv(out, "uptime seconds", "%llu",
		    (unsigned long long)((now - octo_start_time_us) / 1000000u));
	octo_cli_kv(out, "last reload", "%s (%s ago)", last, ago);
	return OCTO_CLI_OK;
}

/* The event loop's nice as the kernel has it, and what octo.conf asked. */
static void cli_loop_nice(struct octo_cli_out *out)
{
	long tid = octo_loop_tid();
	int nice;

	errno = 0;
	nice = tid ? getpriority(PRIO_PROCESS, (id_t)tid) : 0;
	if (!tid || errno)
		octo_cli_kv(out, "event loop nice", "unknown (loop_nice %d)",
			    octo_settings.loop_nice);
	else
		octo_cli_kv(out, "event loop nice", "%d (loop_nice %d)", nice,
			    octo_settings.loop_nice);
}

static int core_cli_settings(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc != 3)
		return OCTO_CLI_USAGE;
	octo_cli_kv(out, "version", "%s", PACKAGE_VERSION);
	octo_cli_kv(out, "pid", "%ld", (long)getpid());
	octo_cli_kv(out, "config folder", "%s", octo_paths.config_dir);
	octo_cli_kv(out, "data folder", "%s", octo_paths.data_dir);
	octo_cli_kv(out, "run folder", "%s", octo_paths.run_dir);
	octo_cli_kv(out, "log folder", "%s", octo_paths.log_dir);
	octo_cli_kv(out, "module folder", "%s", octo_paths.module_dir);
	octo_cli_kv(out, "sound folder", "%s", octo_paths.sound_dir);
	octo_cli_kv(out, "control socket", "%s", octo_paths.socket_path);
	octo_cli_kv(out, "default language", "%s",
		    octo_settings.language ? octo_settings.language : "en");
	octo_cli_kv(out, "worker threads", "%u", octo_settings.workers);
	if (octo_settings.max_calls)
		octo_cli_kv(out, "maximum calls", "%u", octo_settings.max_calls);
	else
		octo_cli_kv(out, "maximum calls", "no limit");
	cli_loop_nice(out);
	octo_cli_kv(out, "debug level", "%d", octo_log_debug_level);
	octo_cli_kv(out, "active calls", "%u", octo_chan_count());
	octo_cli_kv(out, "pending timers", "%lu", octo_timer_count());
	octo_cli_kv(out, "stopping gracefully", "%s",
		    octo_main_stopping_gracefully() ? "yes" : "no");
	return OCTO_CLI_OK;
}

static int core_cli_threads(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_thread_info threads[256];
	unsigned n, shown;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	n = octo_sched_threads(threads, OCTO_ARRAY_LEN(threads));
	shown = n < OCTO_ARRAY_LEN(threads) ? n : (unsigned)OCTO_ARRAY_LEN(threads);
	octo_cli_columns(out, "thread", "tid", NULL);
	for (unsigned i = 0; i < shown; i++) {
		char tid[24];

		snprintf(tid, sizeof(tid), "%lu", threads[i].tid);
		octo_cli_row(out, threads[i].name, tid, NULL);
	}
	octo_cli_kv(out, "threads", "%u", n);
	return OCTO_CLI_OK;
}

/* A line "Name:  value kB" of /proc/self/status, in kB; -1 when absent. */
static long core_proc_status_kb(const char *name)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(name);
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, n) && line[n] == ':') {
			kb = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* Where the memory is: what the kernel counts, and what malloc holds (in
 * use, or freed and kept; see octo/heaptrim.h for when it is given back). */
static int core_cli_memory(struct octo_cli_out *out, int argc, char **argv)
{
	(void)argv;
	if (argc != 3)
		return OCTO_CLI_USAGE;
	octo_cli_kv(out, "resident (VmRSS)", "%ld kB", core_proc_status_kb("VmRSS"));
	octo_cli_kv(out, "resident at most (VmHWM)", "%ld kB", core_proc_status_kb("VmHWM"));
#ifdef __GLIBC__
	{
		struct mallinfo2 mi = mallinfo2();

		octo_cli_kv(out, "heap in use", "%zu kB", (mi.uordblks + mi.hblkhd) / 1024);
		octo_cli_kv(out, "heap freed, kept by malloc", "%zu kB", mi.fordblks / 1024);
	}
#endif
	octo_cli_kv(out, "heap trims after bursts", "%lu", octo_trim_count());
	octo_cli_kv(out, "call thread stacks", "%zu", octo_thread_stacks_mapped());
	octo_cli_kv(out, "threads", "%ld", core_proc_status_kb("Threads"));
	octo_cli_kv(out, "channels", "%u", octo_chan_count());
	return OCTO_CLI_OK;
}

static int core_cli_stop(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc != 3)
		return OCTO_CLI_USAGE;
	if (!strcasecmp(argv[2], "now")) {
		octo_cli_printf(out, "Stopping now.");
		octo_request_stop(false);
	} else if (!strcasecmp(argv[2], "gracefully")) {
		unsigned calls = octo_chan_count();

		if (calls)
			octo_cli_printf(out, "Refusing new calls; stopping when the last of %u "
					"call%s ends.", calls, calls == 1 ? "" : "s");
		else
			octo_cli_printf(out, "No active calls: stopping now.");
		octo_request_stop(true);
	} else if (!strcasecmp(argv[2], "cancel")) {
		if (!octo_main_stopping_gracefully()) {
			octo_cli_error(out, "No graceful stop is pending.");
			return OCTO_CLI_FAIL;
		}
		octo_main_cancel_graceful();
		octo_cli_printf(out, "Graceful stop cancelled: accepting calls again.");
	} else {
		return OCTO_CLI_USAGE;
	}
	return OCTO_CLI_OK;
}

static void core_complete_stop(struct octo_cli_completion *c, int pos, const char *partial)
{
	static const char *const words[] = { "now", "gracefully", "cancel" };

	if (pos != 0)
		return;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(words); i++)
		if (!strncmp(words[i], partial, strlen(partial)))
			octo_cli_complete_add(c, words[i]);
}

static int core_cli_reload(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_diags diags = { 0 };
	int rc;

	if (argc != 2)
		return OCTO_CLI_USAGE;
	rc = octo_reload_all(&diags);
	octo_cli_diags(out, &diags);
	octo_diags_free(&diags);
	if (rc) {
		octo_cli_error(out, "Reload failed: the files with errors keep their running "
			       "configuration.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "Configuration reloaded.");
	return OCTO_CLI_OK;
}

static int core_cli_ready(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc != 2)
		return OCTO_CLI_USAGE;
	if (!octo_fully_booted()) {
		octo_cli_error(out, "Octo is still starting.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "Octo is fully booted.");
	return OCTO_CLI_OK;
}

static int core_cli_wait_booted(struct octo_cli_out *out, int argc, char **argv)
{
	uint64_t deadline = octo_now_ms() + 30000;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	while (!octo_fully_booted() && octo_now_ms() < deadline)
		usleep(50 * 1000);
	return core_cli_ready(out, 2, argv);
}

static const struct octo_cli_cmd core_cli[] = {
	{ "core show version", "Show the version of Octo", NULL, core_cli_version, NULL },
	{ "core show uptime", "Show how long Octo has been running", NULL, core_cli_uptime, NULL },
	{ "core show settings", "Show the folders and settings in use", NULL, core_cli_settings,
	  NULL },
	{ "core show threads", "List Octo's threads", NULL, core_cli_threads, NULL },
	{ "core show memory", "Show Octo's resident memory and what malloc holds", NULL,
	  core_cli_memory, NULL },
	{ "core stop", "Stop now, or gracefully when the last call ends (cancel undoes it)",
	  "core stop now|gracefully|cancel", core_cli_stop, core_complete_stop },
	{ "core reload", "Reload every configuration file (atomically per file)", NULL,
	  core_cli_reload, NULL },
	{ "core ready", "Succeed once Octo is fully booted", NULL, core_cli_ready, NULL },
	{ "core wait fullybooted", "Wait (up to 30 s) until Octo is fully booted", NULL,
	  core_cli_wait_booted, NULL },
	{ 0 }
};

int octo_core_cli_init(void)
{
	return octo_cli_register_all(NULL, core_cli);
}
