/*
 * sip_cli.c - the stack's CLI commands:
 *
 *   sip show settings            listeners, NAT, TLS, limits, timers, RTP, codecs,
 *                                digest algorithms, music on hold, counts, then
 *                                every sip.conf key with its value and origin
 *   sip show transactions        live transactions by type and state
 *   sip show connections         TCP and TLS connections
 *   sip show stats               message and connection counters
 *   sip set debug on|off|ip ADDR full SIP messages to the consoles
 *   sip reload                   re-read sip.conf
 *
 * Handlers run on a CLI worker thread: they read the config snapshot, the
 * atomic counters, or ask the loop (sip_transport_conns).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/obj.h"
#include "sip.h"
#include "sip_media.h"

static void cli_key_row(void *ctx, const char *section, const char *key, const char *value,
			const char *origin)
{
	octo_cli_row(ctx, section, key, value, origin, NULL);
}

/* The second half of `sip show settings`: media, codecs, counts, then
 * every key of sip.conf with its value and where it came from. */
static void cli_settings_more(struct octo_cli_out *out, const struct sip_cfg *cfg)
{
	const struct sip_sec_conf *sc = sip_cfg_part(cfg, &sip_sec_cfg_part);
	const struct sip_reg_conf *rc = sip_cfg_part(cfg, &sip_reg_cfg_part);
	const struct octo_cfg_section *sec = octo_cfg_section(cfg->tree, "security");
	const struct octo_cfg_section *med = octo_cfg_section(cfg->tree, "media");
	const struct octo_cfg_var *vs = med ? octo_cfg_var_find(med, "rtp_start") : NULL;
	const struct octo_cfg_var *ve = med ? octo_cfg_var_find(med, "rtp_end") : NULL;
	unsigned long counts[SIP_TXN_KINDS][SIP_TXN_STATES], txns = 0;
	struct sip_conn_info *conns = NULL;
	unsigned classes = 0, held;
	char buf[512], cls[72];
	size_t used = 0, nconn;

	sip_txn_counts(counts);
	for (int k = 0; k < SIP_TXN_KINDS; k++)
		for (int st = 0; st < SIP_TXN_STATES; st++)
			if (st != SIP_TXN_TERMINATED)
				txns += counts[k][st];
	nconn = sip_transport_conns(&conns);
	free(conns);
	held = sip_moh_count(&classes);
	{
		/* the RTP range as configured ([media]), shown even when the file has none */
		const char *s0 = vs ? vs->value : "10000", *s1 = ve ? ve->value : "20000";

		octo_cli_kv(out, "RTP ports", "%s-%s (%s)", s0, s1,
			    vs || ve ? "[media]" : "default");
	}
	octo_cli_kv(out, "codecs", "PCMU, PCMA (order: each user's `codecs` in users.conf), "
				   "telephone-event/8000 (RFC 4733), SIP INFO DTMF");
	buf[0] = '\0';
	for (unsigned i = 0; rc && i < rc->nalgs && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? ", " : "",
					 sip_digest_alg_name(rc->algs[i]));
	octo_cli_kv(out, "digest algorithms offered", "%s", used ? buf : "(none)");
	octo_cli_kv(out, "music on hold to held phones", "%s",
		    sip_moh_enabled(cls, sizeof(cls)) ? "yes" : "no");
	octo_cli_kv(out, "music on hold class", "%s", cls);
	octo_cli_kv(out, "RTP endpoints open", "%u", sip_media_count());
	octo_cli_kv(out, "held phones hearing music", "%u (%u class%s)", held, classes,
		    classes == 1 ? "" : "es");
	octo_cli_kv(out, "transactions", "%lu", txns);
	octo_cli_kv(out, "TCP/TLS connections open", "%zu", nconn);

	octo_cli_columns(out, "section", "key", "value", "from", NULL);
	sip_cfg_dump(cfg, cli_key_row, out);
	if (sc) {
		char v[512], o[300];
		const struct {
			const char *key;
			unsigned val;
			const char *unit;
		} nums[] = {
			{ "max_failures", sc->max_failures, "" },
			{ "window", sc->window, " s" },
			{ "ban_time", sc->ban_time, " s" },
		};

		for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
			const struct octo_cfg_var *x =
				sec ? octo_cfg_var_find(sec, nums[i].key) : NULL;

			snprintf(v, sizeof(v), "%u%s", nums[i].val, nums[i].unit);
			sip_cfg_origin(x, o, sizeof(o));
			octo_cli_row(out, "security", nums[i].key, v, o, NULL);
		}
		used = 0;
		v[0] = '\0';
		for (size_t i = 0; i < sc->trusted.count && used < sizeof(v); i++)
			used += (size_t)snprintf(v + used, sizeof(v) - used, "%s%s", i ? ", " : "",
						 sc->trusted.items[i]);
		sip_cfg_origin(sec ? octo_cfg_var_find(sec, "trusted") : NULL, o, sizeof(o));
		octo_cli_row(out, "security", "trusted", used ? v : "(none)", o, NULL);
	}
}

static int cli_settings(struct octo_cli_out *out, int argc, char **argv)
{
	struct sip_listener_info lis[SIP_TP_COUNT];
	size_t n = sip_transport_listeners(lis, SIP_TP_COUNT);
	struct sip_cfg *cfg;
	char buf[512];
	size_t used = 0;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	cfg = sip_cfg_get();
	if (!cfg) {
		octo_cli_error(out, "The SIP stack is not running.");
		return OCTO_CLI_FAIL;
	}
	for (int t = 0; t < SIP_TP_COUNT; t++) {
		const char *addr = "off";

		for (size_t i = 0; i < n; i++)
			if (lis[i].tp == (enum sip_tp)t)
				addr = lis[i].addr;
		snprintf(buf, sizeof(buf), "%s listener", sip_tp_name((enum sip_tp)t));
		octo_cli_kv(out, buf, "%s", addr);
	}
	if (cfg->g.externaddr.family) {
		struct sip_addr a = { .sa.ss_family = (sa_family_t)cfg->g.externaddr.family };
		char ip[SIP_ADDR_STRLEN];

		if (a.sa.ss_family == AF_INET)
			((struct sockaddr_in *)&a.sa)->sin_addr = cfg->g.externaddr.addr.v4;
		else
			((struct sockaddr_in6 *)&a.sa)->sin6_addr = cfg->g.externaddr.addr.v6;
		octo_cli_kv(out, "externaddr", "%s", sip_addr_ip(&a, ip, sizeof(ip)));
		if (cfg->g.externport)
			octo_cli_kv(out, "externport", "%u", cfg->g.externport);
		else
			octo_cli_kv(out, "externport", "(the listener's)");
	} else {
		octo_cli_kv(out, "externaddr", "(none)");
	}
	buf[0] = '\0';
	for (size_t i = 0; i < cfg->g.localnet.count && used < sizeof(buf); i++)
		used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s%s", i ? ", " : "",
					 cfg->g.localnet.items[i]);
	octo_cli_kv(out, "localnet", "%s", used ? buf : "(none)");
	octo_cli_kv(out, "TLS certificate", "%s",
		    cfg->tls_cert_path ? cfg->tls_cert_path : "(none)");
	octo_cli_kv(out, "TLS CA file", "%s",
		    cfg->tls_cafile_path ? cfg->tls_cafile_path : "(none)");
	octo_cli_kv(out, "max message size", "%u bytes", cfg->g.max_message_size);
	octo_cli_kv(out, "TCP/TLS connections", "at most %u", cfg->g.tcp_max_connections);
	octo_cli_kv(out, "TCP/TLS idle timeout", "%u s", cfg->g.tcp_idle_timeout);
	octo_cli_kv(out, "timers", "T1 %u ms, T2 %u ms, T4 %u ms", sip_timer_t1(), sip_timer_t2(),
		    sip_timer_t4());
	octo_cli_kv(out, "user agent", "%s", cfg->g.user_agent ? cfg->g.user_agent : "");
	sip_allow_value(buf, sizeof(buf));
	octo_cli_kv(out, "methods (Allow)", "%s", buf);
	sip_supported_value(buf, sizeof(buf));
	octo_cli_kv(out, "option tags (Supported)", "%s", buf[0] ? buf : "(none)");
	sip_debug_get(buf, sizeof(buf));
	octo_cli_kv(out, "debug", "%s", buf);
	cli_settings_more(out, cfg);
	octo_obj_unref(cfg);
	return OCTO_CLI_OK;
}

static int cli_transactions(struct octo_cli_out *out, int argc, char **argv)
{
	/* the states each kind can be in (RFC 3261 17 and RFC 6026) */
	static const enum sip_txn_state states[SIP_TXN_KINDS][5] = {
		[SIP_ICT] = { SIP_TXN_CALLING, SIP_TXN_PROCEEDING, SIP_TXN_COMPLETED,
			      SIP_TXN_ACCEPTED, SIP_TXN_TERMINATED },
		[SIP_NICT] = { SIP_TXN_TRYING, SIP_TXN_PROCEEDING, SIP_TXN_COMPLETED,
			       SIP_TXN_TERMINATED, SIP_TXN_TERMINATED },
		[SIP_IST] = { SIP_TXN_PROCEEDING, SIP_TXN_COMPLETED, SIP_TXN_CONFIRMED,
			      SIP_TXN_ACCEPTED, SIP_TXN_TERMINATED },
		[SIP_NIST] = { SIP_TXN_TRYING, SIP_TXN_PROCEEDING, SIP_TXN_COMPLETED,
			       SIP_TXN_TERMINATED, SIP_TXN_TERMINATED },
	};
	unsigned long counts[SIP_TXN_KINDS][SIP_TXN_STATES], total = 0;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	sip_txn_counts(counts);
	octo_cli_columns(out, "Type", "State", "Count", NULL);
	for (int k = 0; k < SIP_TXN_KINDS; k++) {
		for (int i = 0; i < 5 && states[k][i] != SIP_TXN_TERMINATED; i++) {
			char num[24];

			snprintf(num, sizeof(num), "%lu", counts[k][states[k][i]]);
			octo_cli_row(out, sip_txn_kind_name((enum sip_txn_kind)k),
				     sip_txn_state_name(states[k][i]), num, NULL);
			total += counts[k][states[k][i]];
		}
	}
	octo_cli_kv(out, "total", "%lu", total);
	return OCTO_CLI_OK;
}

static int cli_connections(struct octo_cli_out *out, int argc, char **argv)
{
	struct sip_conn_info *items = NULL;
	size_t n;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	n = sip_transport_conns(&items);
	octo_cli_columns(out, "ID", "Peer", "Direction", "Age", "Idle", "Queued", NULL);
	for (size_t i = 0; i < n; i++) {
		char id[24], age[24], idle[24], queued[24];

		snprintf(id, sizeof(id), "%llu", (unsigned long long)items[i].id);
		snprintf(age, sizeof(age), "%lus", items[i].age_s);
		snprintf(idle, sizeof(idle), "%lus", items[i].idle_s);
		snprintf(queued, sizeof(queued), "%zu", items[i].queued);
		octo_cli_row(out, id, items[i].peer, items[i].outgoing ? "out" : "in", age, idle,
			     queued, NULL);
	}
	free(items);
	octo_cli_kv(out, "connections", "%zu", n);
	return OCTO_CLI_OK;
}

static int cli_stats(struct octo_cli_out *out, int argc, char **argv)
{
	struct sip_stats s;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	sip_stats_get(&s);
	octo_cli_kv(out, "messages received", "%lu", s.rx_msgs);
	octo_cli_kv(out, "messages sent", "%lu", s.tx_msgs);
	octo_cli_kv(out, "malformed (dropped or answered)", "%lu", s.rx_bad);
	octo_cli_kv(out, "datagrams over the size limit", "%lu", s.rx_too_big);
	octo_cli_kv(out, "keep-alives", "%lu", s.rx_keepalive);
	octo_cli_kv(out, "dropped from banned addresses", "%lu", s.rx_dropped);
	octo_cli_kv(out, "send errors", "%lu", s.tx_errors);
	octo_cli_kv(out, "connections opened", "%lu", s.conns_open);
	octo_cli_kv(out, "connections refused", "%lu", s.conns_refused);
	return OCTO_CLI_OK;
}

static int cli_debug(struct octo_cli_out *out, int argc, char **argv)
{
	char desc[128];

	if (argc == 4 && !strcmp(argv[3], "on")) {
		sip_debug_set(1, NULL, 0);
	} else if (argc == 4 && !strcmp(argv[3], "off")) {
		sip_debug_set(0, NULL, 0);
	} else if (argc == 5 && !strcmp(argv[3], "ip")) {
		struct sip_addr a;
		char ip[128], *colon;
		unsigned port = 0;

		/* ADDR, ADDR:PORT, V6, [V6] or [V6]:PORT */
		octo_strlcpy(ip, argv[4], sizeof(ip));
		colon = NULL;
		if (ip[0] == '[' && strchr(ip, ']'))
			colon = strchr(strchr(ip, ']'), ':');
		else if (strchr(ip, ':') && strchr(ip, ':') == strrchr(ip, ':'))
			colon = strchr(ip, ':');
		if (colon) {
			char *end;
			unsigned long p = strtoul(colon + 1, &end, 10);

			if (*end || !p || p > 65535) {
				octo_cli_error(out, "\"%s\" is not a valid port", colon + 1);
				return OCTO_CLI_FAIL;
			}
			port = (unsigned)p;
			*colon = '\0';
		}
		if (sip_addr_set(&a, SIP_TP_UDP, ip, 0) != 0) {
			octo_cli_error(out, "\"%s\" is not an IP address", argv[4]);
			return OCTO_CLI_FAIL;
		}
		sip_debug_set(2, &a.sa, port);
	} else {
		return OCTO_CLI_USAGE;
	}
	sip_debug_get(desc, sizeof(desc));
	octo_cli_printf(out, "SIP debugging is %s.", desc);
	return OCTO_CLI_OK;
}

static void cli_complete_debug(struct octo_cli_completion *c, int pos, const char *partial)
{
	static const char *const words[] = { "on", "off", "ip" };

	if (pos != 0)
		return;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(words); i++)
		if (!strncmp(words[i], partial, strlen(partial)))
			octo_cli_complete_add(c, words[i]);
}

static int cli_reload(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_diags diags = { 0 };
	int rc;

	if (argc != 2)
		return OCTO_CLI_USAGE;
	rc = sip_reload(&diags);
	for (size_t i = 0; i < diags.count; i++) {
		if (diags.items[i].severity == OCTO_DIAG_ERROR)
			octo_cli_error(out, "%s", diags.items[i].message);
		else
			octo_cli_printf(out, "warning: %s", diags.items[i].message);
	}
	octo_diags_free(&diags);
	if (rc) {
		octo_cli_error(out, "Reload failed: the running SIP configuration stays in place.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "sip.conf reloaded.");
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd sip_cli_cmds[] = {
	{ "sip show settings", "Show the SIP listeners, NAT settings, limits and timers", NULL,
	  cli_settings, NULL },
	{ "sip show transactions", "Count live SIP transactions by type and state", NULL,
	  cli_transactions, NULL },
	{ "sip show connections", "List SIP TCP and TLS connections", NULL, cli_connections, NULL },
	{ "sip show stats", "Show SIP message and connection counters", NULL, cli_stats, NULL },
	{ "sip set debug", "Print SIP messages to the consoles (all, one peer, or none)",
	  "sip set debug {on|off|ip <address>[:<port>]}", cli_debug, cli_complete_debug },
	{ "sip reload", "Re-read sip.conf (listener changes need a restart)", NULL, cli_reload,
	  NULL },
	{ 0 }
};

int sip_cli_register(struct octo_module *self)
{
	int rc = octo_cli_register_all(self, sip_cli_cmds);

	if (!rc)
		rc = sip_reg_cli_register(self);
	if (!rc)
		rc = sip_sec_cli_register(self);
	if (!rc)
		rc = sip_call_register(self); /* the SIP technology and its commands */
	return rc;
}
