/*
 * main.c - the octo program: option parsing, octo.conf, the run-folder lock,
 * start-up and shutdown order, signals; and the remote console (-r).
 *
 * DESIGN: the main thread blocks every signal before any other thread
 * exists, then waits for them with sigwaitinfo(): SIGTERM/SIGINT stop,
 * SIGHUP reloads. Everything else runs on the event loop, the worker pool or
 * call threads. `core stop now` and `core stop gracefully` end up as a
 * SIGTERM to ourselves, so there is one stop path.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/clock.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/heaptrim.h"
#include "octo/log.h"
#include "octo/sched.h"
#include "octo/sound.h"
#include "octo/store.h"
#include "cli_proto.h"
#include "internal.h"

#ifndef OCTO_SYSCONFDIR
#define OCTO_SYSCONFDIR "/etc/octo"
#endif
#ifndef OCTO_LOCALSTATEDIR
#define OCTO_LOCALSTATEDIR "/var"
#endif
#ifndef OCTO_MODULEDIR
#define OCTO_MODULEDIR "/usr/lib/octo/modules"
#endif
#ifndef OCTO_DATADIR
#define OCTO_DATADIR "/usr/share/octo"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0"
#endif

struct main_dirs {
	char *data, *run, *log, *modules, *sounds;
};

static const struct octo_cfg_opt main_dir_opts[] = {
	OCTO_CFG_STR("data", struct main_dirs, data, OCTO_LOCALSTATEDIR "/lib/octo", 0),
	OCTO_CFG_STR("run", struct main_dirs, run, OCTO_LOCALSTATEDIR "/run/octo", 0),
	OCTO_CFG_STR("log", struct main_dirs, log, OCTO_LOCALSTATEDIR "/log/octo", 0),
	OCTO_CFG_STR("modules", struct main_dirs, modules, OCTO_MODULEDIR, 0),
	OCTO_CFG_STR("sounds", struct main_dirs, sounds, OCTO_DATADIR "/sounds", 0),
	OCTO_CFG_END
};

static const struct octo_cfg_opt main_option_opts[] = {
	OCTO_CFG_INT("verbose", struct octo_settings, verbose, "0", 0, 5),
	OCTO_CFG_STR("language", struct octo_settings, language, "en", 0),
	OCTO_CFG_UINT("workers", struct octo_settings, workers, "4", 1, 64),
	OCTO_CFG_UINT("max_calls", struct octo_settings, max_calls, "0", 0, 1000000),
	OCTO_CFG_INT("loop_nice", struct octo_settings, loop_nice, "-10", -20, 0),
	OCTO_CFG_END
};

static void main_usage(FILE *fp)
{
	fprintf(fp,
		"Usage: octo [options]\n"
		"  -f            stay in the foreground (log to the terminal)\n"
		"  -c            with -f: also read console commands from the terminal\n"
		"  -C DIR        config folder (default " OCTO_SYSCONFDIR ")\n"
		"  -D DIR        put the data, log and run folders under DIR\n"
		"  -M DIR        module folder (default from octo.conf)\n"
		"  -S DIR        sound folder (default from octo.conf)\n"
		"  -s PATH       control socket (default <run folder>/octo.ctl)\n"
		"  -r            attach a console to a running octo\n"
		"  -x CMD        with -r: run one command, print the answer and exit\n"
		"  --json        with -rx: print the answer as JSON\n"
		"  -t            check the config folder and exit (non-zero on errors)\n"
		"  -v            more verbose (repeat up to 5 times)\n"
		"  -V            print the version and exit\n"
		"  -h            this help\n");
}

/* octo.conf loop_nice: the event loop thread (all SIP signalling, the
 * timers) runs that much above the daemon's other threads. Measured at
 * 1,000 calls/s on two cores: at the same priority the loop waited for a
 * core a fifth of the time, preempted by call threads, the media and the
 * CDR writers (and on a shared machine by anything else), and its socket
 * backed up to a few hundred ms; at nice -10 it waited a tenth and kept
 * up. Raising a priority needs root, CAP_SYS_NICE or a nice limit. */
static void main_loop_priority(int delta)
{
	long tid = octo_loop_tid();
	int base, want;

	if (!delta || !tid)
		return;
	errno = 0;
	base = getpriority(PRIO_PROCESS, 0); /* this thread's: the daemon's */
	if (errno)
		return;
	want = base + delta < -20 ? -20 : base + delta;
	if (setpriority(PRIO_PROCESS, (id_t)tid, want) != 0)
		octo_log(OCTO_NOTICE,
			 "the event loop runs at the daemon's priority (nice %d): loop_nice = %d "
			 "in octo.conf needs root, CAP_SYS_NICE or a nice limit that allows it "
			 "(systemd LimitNICE=, ulimit -e): %s",
			 base, delta, strerror(errno));
	else
		octo_debug(1, "the event loop runs at nice %d", want);
}

static int main_mkdirs(const char *path)
{
	char buf[PATH_MAX];

	if (octo_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf))
		return -1;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0750) && errno != EEXIST)
		return -1;
	return 0;
}

static char *main_join(const char *a, const char *b)
{
	size_t len = strlen(a) + strlen(b) + 2;
	char *s = malloc(len);

	if (!s)
		abort();
	snprintf(s, len, "%s/%s", a, b);
	return s;
}

/* Paths in octo.conf that are relative are taken from the config folder. */
static char *main_resolve(const char *config_dir, const char *path)
{
	return path[0] == '/' ? octo_strdup(path) : main_join(config_dir, path);
}

static int main_read_octo_conf(const char *config_dir, const char *state_dir,
			       const char *module_dir, const char *sound_dir,
			       struct octo_diags *diags)
{
	struct octo_cfg *cfg = octo_cfg_load(config_dir, "octo.conf", true, diags);
	const struct octo_cfg_section *sec;
	struct main_dirs dirs = { 0 };
	bool have_dirs = false, have_opts = false;
	int rc = 0;

	if (!cfg)
		return OCTO_ECONFIG;
	for (sec = octo_cfg_first(cfg); sec; sec = octo_cfg_next(sec)) {
		if (!strcmp(sec->name, "directories")) {
			rc |= octo_cfg_bind(sec, main_dir_opts, &dirs, NULL, diags);
			have_dirs = true;
		} else if (!strcmp(sec->name, "options")) {
			rc |= octo_cfg_bind(sec, main_option_opts, &octo_settings, NULL, diags);
			have_opts = true;
		} else if (strcmp(sec->name, "licenses")) {
			/* [licenses] is read by res_users. */
			octo_diags_add(diags, OCTO_DIAG_WARNING, sec->file, sec->line,
				       "unknown section [%s] (octo.conf has [directories], "
				       "[options] and [licenses])", sec->name);
		}
	}
	octo_cfg_free(cfg);
	if (!have_dirs)
		rc |= octo_cfg_bind(NULL, main_dir_opts, &dirs, NULL, diags);
	if (!have_opts)
		rc |= octo_cfg_bind(NULL, main_option_opts, &octo_settings, NULL, diags);
	if (rc) {
		octo_cfg_unbind(main_dir_opts, &dirs);
		return OCTO_ECONFIG;
	}
	if (state_dir) {
		octo_paths.data_dir = main_join(state_dir, "data");
		octo_paths.run_dir = main_join(state_dir, "run");
		octo_paths.log_dir = main_join(state_dir, "log");
	} else {
		octo_paths.data_dir = main_resolve(config_dir, dirs.data);
		octo_paths.run_dir = main_resolve(config_dir, dirs.run);
		octo_paths.log_dir = main_resolve(config_dir, dirs.log);
	}
	octo_paths.module_dir = module_dir ? octo_strdup(module_dir)
					   : main_resolve(config_dir, dirs.modules);
	octo_paths.sound_dir = sound_dir ? octo_strdup(sound_dir)
					 : main_resolve(config_dir, dirs.sounds);
	octo_cfg_unbind(main_dir_opts, &dirs);
	return 0;
}

static void main_free_paths(void)
{
	free((char *)octo_paths.data_dir);
	free((char *)octo_paths.run_dir);
	free((char *)octo_paths.log_dir);
	free((char *)octo_paths.module_dir);
	free((char *)octo_paths.sound_dir);
	free((char *)octo_paths.socket_path);
	free((char *)octo_paths.config_dir);
	memset(&octo_paths, 0, sizeof(octo_paths));
	octo_cfg_unbind(main_option_opts, &octo_settings);
}

static void main_print_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		fprintf(stderr, "%s: %s\n",
			diags->items[i].severity == OCTO_DIAG_ERROR ? "error" : "warning",
			diags->items[i].message);
}

/* octo -t: every config file the core and the modules read. */
static int main_check_config(void)
{
	struct octo_diags diags = { 0 };
	int rc = 0;

	rc |= octo_logger_check(octo_paths.config_dir, &diags);
	{
		struct octo_cfg *cfg = octo_cfg_load(octo_paths.config_dir, "modules.conf", true,
						     &diags);
		octo_cfg_free(cfg);
	}
	rc |= octo_dialplan_check(octo_paths.config_dir, &diags);
	rc |= octo_loader_check_all(octo_paths.config_dir, &diags);
	main_print_diags(&diags);
	if (diags.errors)
		rc = 1;
	printf("%s: %zu error%s, %zu warning%s\n", octo_paths.config_dir, diags.errors,
	       diags.errors == 1 ? "" : "s", diags.count - diags.errors,
	       diags.count - diags.errors == 1 ? "" : "s");
	octo_diags_free(&diags);
	return rc ? 1 : 0;
}

/* Takes the run folder's pid lock; returns the fd or -1 (with a message). */
static int main_lock_pidfile(char **pidpath_out)
{
	char *path = main_join(octo_paths.run_dir, "octo.pid");
	char buf[32];
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);

	if (fd < 0) {
		fprintf(stderr, "octo: cannot open %s: %s\n", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		fprintf(stderr, "octo: already running with pid %s (lock %s held)\n",
			buf[0] ? buf : "?", path);
		close(fd);
		free(path);
		return -1;
	}
	*pidpath_out = path;
	return fd;
}

static void main_write_pid(int fd)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 &&
	    write(fd, buf, (size_t)len) != len)
		octo_log(OCTO_WARNING, "cannot write the pid file");
}

/* -c: console commands read from the terminal, in the foreground. */
static void *main_stdin_console(void *arg)
{
	char *line = NULL;
	size_t cap = 0;

	octo_thread_register("stdin console");
	while (getline(&line, &cap, stdin) > 0) {
		struct octo_cli_out *out;
		int status;

		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (!strcmp(line, "exit") || !strcmp(line, "quit")) {
			octo_request_stop(false);
			break;
		}
		out = octo_cli_out_alloc(false);
		if (!out)
			break;
		status = octo_cli_execute(out, line);
		fputs(octo_cli_out_render(out, status), stdout);
		fflush(stdout);
		octo_cli_out_free(out);
	}
	free(line);
	octo_thread_unregister();
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	const char *config_dir = OCTO_SYSCONFDIR, *socket_path = NULL, *command = NULL;
	const char *state_dir = NULL, *module_dir = NULL, *sound_dir = NULL;
	bool foreground = false, remote = false, check = false, json = false, stdin_console = false;
	int verbose = 0, opt, pidfd, rc = 0;
	struct octo_diags diags = { 0 };
	char *pidpath = NULL;
	sigset_t sigs;
	pthread_t console_thread;

	while ((opt = getopt_long(argc, argv, "fcC:D:M:S:s:rx:tvVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': foreground = true; break;
		case 'c': stdin_console = true; break;
		case 'C': config_dir = optarg; break;
		case 'D': state_dir = optarg; break;
		case 'M': module_dir = optarg; break;
		case 'S': sound_dir = optarg; break;
		case 's': socket_path = optarg; break;
		case 'r': remote = true; break;
		case 'x':
			/* "octo -rx --json CMD": getopt hands us "--json" as the command. */
			if (!strcmp(optarg, "--json") && optind < argc) {
				json = true;
				command = argv[optind++];
			} else {
				command = optarg;
			}
			break;
		case 'j': json = true; break;
		case 't': check = true; break;
		case 'v': verbose++; break;
		case 'V': printf("Octo %s\n", PACKAGE_VERSION); return 0;
		case 'h': main_usage(stdout); return 0;
		default: main_usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "octo: unexpected argument \"%s\"\n", argv[optind]);
		main_usage(stderr);
		return 2;
	}
	if (command && !remote) {
		fprintf(stderr, "octo: -x needs -r (octo -rx \"command\")\n");
		return 2;
	}

	octo_paths.config_dir = octo_strdup(config_dir);
	octo_log_init();
	if (octo_registry_init())
		return 1;
	if (main_read_octo_conf(config_dir, state_dir, module_dir, sound_dir, &diags)) {
		main_print_diags(&diags);
		octo_diags_free(&diags);
		if (!remote)
			return 1;
	}
	if (socket_path)
		octo_paths.socket_path = octo_strdup(socket_path);
	else if (octo_paths.run_dir)
		octo_paths.socket_path = main_join(octo_paths.run_dir, "octo.ctl");
	else
		octo_paths.socket_path = octo_strdup(OCTO_LOCALSTATEDIR "/run/octo/octo.ctl");

	if (remote) {
		octo_diags_free(&diags);
		rc = octo_console_run(octo_paths.socket_path, command, json, verbose ? verbose : 3);
		octo_registry_shutdown();
		main_free_paths();
		return rc;
	}
	if (verbose < octo_settings.verbose)
		verbose = octo_settings.verbose;
	octo_heap_policy(); /* the daemon's: before its threads */

	if (check) {
		main_print_diags(&diags);
		octo_diags_free(&diags);
		if (octo_loader_init(octo_paths.module_dir) == 0)
			rc = main_check_config();
		else
			rc = 1;
		octo_loader_shutdown();
		octo_registry_shutdown();
		main_free_paths();
		return rc;
	}

	if (main_mkdirs(octo_paths.run_dir) || main_mkdirs(octo_paths.data_dir) ||
	    main_mkdirs(octo_paths.log_dir)) {
		fprintf(stderr, "octo: cannot create the run, data and log folders (%s, %s, %s): "
			"%s\n", octo_paths.run_dir, octo_paths.data_dir, octo_paths.log_dir,
			strerror(errno));
		return 1;
	}
	pidfd = main_lock_pidfile(&pidpath);
	if (pidfd < 0)
		return 1;
	if (!foreground) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("octo: fork");
			return 1;
		}
		if (pid > 0)
			_exit(0);
		setsid();
		if (!freopen("/dev/null", "r", stdin) || !freopen("/dev/null", "w", stdout) ||
		    !freopen("/dev/null", "w", stderr))
			return 1;
		stdin_console = false;
	}
	main_write_pid(pidfd);
	octo_start_time_us = octo_reload_time_us = octo_wall_us();

	/* Block the signals we wait for before any thread exists, so they all
	 * inherit the mask and only sigwaitinfo() below sees them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	octo_log_stderr(foreground, verbose);
	for (size_t i = 0; i < diags.count; i++)
		octo_log(OCTO_WARNING, "%s", diags.items[i].message);
	octo_diags_free(&diags);

	if (octo_sched_start(octo_settings.workers)) {
		octo_log(OCTO_ERROR, "cannot start the event loop");
		return 1;
	}
	if (octo_cli_core_init() || octo_core_cli_init() || octo_logger_cli_init() ||
	    octo_chan_init() || octo_dialplan_init() || octo_sound_cli_init() ||
	    octo_clock_cli_init()) {
		octo_log(OCTO_ERROR, "core initialisation failed");
		return 1;
	}
	if (octo_logger_reload(&diags))
		octo_log(OCTO_WARNING, "logger.conf has errors: logging to files is off");
	main_loop_priority(octo_settings.loop_nice);
	if (octo_dialplan_reload(&diags))
		octo_log(OCTO_WARNING, "dialplan.conf has errors: the dialplan is empty");
	for (size_t i = 0; i < diags.count; i++)
		octo_log(diags.items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags.items[i].message);
	octo_diags_free(&diags);

	if (octo_store_init(NULL)) {
		octo_log(OCTO_ERROR, "cannot open the store in %s", octo_paths.data_dir);
		rc = 1;
		goto shutdown;
	}
	if (octo_loader_init(octo_paths.module_dir)) {
		octo_log(OCTO_ERROR, "cannot start the module loader");
		rc = 1;
		goto shutdown;
	}
	octo_loader_load_all(&diags);
	octo_diags_free(&diags);

	if (octo_cli_server_start(octo_paths.socket_path)) {
		octo_log(OCTO_ERROR, "cannot open the control socket %s", octo_paths.socket_path);
		rc = 1;
		goto shutdown;
	}
	octo_set_booted(true);
	octo_log(OCTO_NOTICE, "Octo %s ready (config %s, control socket %s)", PACKAGE_VERSION,
		 octo_paths.config_dir, octo_paths.socket_path);
	if (stdin_console && pthread_create(&console_thread, NULL, main_stdin_console, NULL) == 0)
		pthread_detach(console_thread);

	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&sigs, &info);

		if (sig == SIGHUP) {
			struct octo_diags rd = { 0 };

			octo_log(OCTO_NOTICE, "SIGHUP: reloading the configuration");
			octo_reload_all(&rd);
			octo_diags_free(&rd);
			continue;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	octo_log(OCTO_NOTICE, "stopping");

shutdown:
	octo_set_booted(false);
	octo_cli_server_stop();
	octo_chan_shutdown();
	octo_loader_shutdown();
	octo_store_shutdown();
	octo_dialplan_shutdown();
	octo_cli_core_shutdown();
	octo_sched_stop();
	octo_log_shutdown();
	octo_log_stderr(false, 0);
	octo_registry_shutdown();
	if (pidpath) {
		unlink(pidpath);
		free(pidpath);
	}
	close(pidfd);
	main_free_paths();
	return rc;
}
