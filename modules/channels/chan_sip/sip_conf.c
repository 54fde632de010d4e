/*
 * sip_conf.c - sip.conf: the [general] keys of the stack, bound
 * declaratively (octo_cfg_bind, so every error carries file:line), the
 * checks the binder cannot do (localnet entries, TLS files), and the
 * running configuration: an immutable reference-counted snapshot swapped
 * atomically on reload.
 *
 * Other parts of chan_sip (registrar, auth, calls) add their own keys and
 * sections through struct sip_cfg_part (sip.h): a line in conf_parts[]
 * below. Their [general] keys are bound into a struct of their own, and
 * the sections they claim are handed to them; a section nobody claims is
 * a warning.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "sip.h"
#include "sip_media.h"

/* [media]: RTP ports, timeout and workers of sip_media.c (below). */
static const struct sip_cfg_part conf_media_part;

/* The parts of chan_sip with config of their own (NULL-terminated). */
static const struct sip_cfg_part *const conf_parts[] = { &sip_reg_cfg_part, &sip_sec_cfg_part,
							 &conf_media_part, &sip_moh_cfg_part,
							 NULL };

/* How many parts there are (a function: with none, a constant 0 would make
 * every `i < CONF_NPARTS` loop a -Wtype-limits error). */
static size_t conf_nparts(void)
{
	size_t n = 0;

	while (conf_parts[n])
		n++;
	return n;
}

#define CONF_NPARTS conf_nparts()

static const struct octo_cfg_opt conf_general_opts[] = {
	OCTO_CFG_ADDR("bindaddr", struct sip_general, bindaddr, "0.0.0.0", OCTO_CFG_NO_PREFIX),
	OCTO_CFG_UINT("port", struct sip_general, port, "5060", 1, 65535),
	OCTO_CFG_BOOL("udp", struct sip_general, udp, "yes"),
	OCTO_CFG_BOOL("tcp", struct sip_general, tcp, "yes"),
	OCTO_CFG_UINT("tls_port", struct sip_general, tls_port, "5061", 1, 65535),
	OCTO_CFG_STR("tls_cert", struct sip_general, tls_cert, NULL, 0),
	OCTO_CFG_STR("tls_key", struct sip_general, tls_key, NULL, 0),
	OCTO_CFG_STR("tls_cafile", struct sip_general, tls_cafile, NULL, 0),
	OCTO_CFG_ADDR("externaddr", struct sip_general, externaddr, NULL, OCTO_CFG_NO_PREFIX),
	OCTO_CFG_UINT("externport", struct sip_general, externport, "0", 0, 65535),
	OCTO_CFG_LIST("localnet", struct sip_general, localnet, NULL, OCTO_CFG_MULTI),
	OCTO_CFG_UINT("max_message_size", struct sip_general, max_message_size, "65535", 1500,
		      1048576),
	OCTO_CFG_UINT("tcp_max_connections", struct sip_general, tcp_max_connections, "1024", 1,
		      100000),
	OCTO_CFG_DURATION("tcp_idle_timeout", struct sip_general, tcp_idle_timeout, "10m", 10,
			  86400),
	OCTO_CFG_DURATION_MS("t1", struct sip_general, t1, "500ms", 50, 10000),
	OCTO_CFG_DURATION_MS("t2", struct sip_general, t2, "4s", 500, 60000),
	OCTO_CFG_DURATION_MS("t4", struct sip_general, t4, "5s", 500, 60000),
	OCTO_CFG_STR("user_agent", struct sip_general, user_agent, "Octo", 0),
	OCTO_CFG_END
};

static pthread_mutex_t conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sip_cfg *conf_running;

/* The table being bound: keys of every other table are skipped silently. */
static _Thread_local const struct octo_cfg_opt *conf_binding;

static bool conf_in_table(const struct octo_cfg_opt *opts, const char *key)
{
	for (; opts && opts->key; opts++)
		if (!strcmp(opts->key, key))
			return true;
	return false;
}

static bool conf_other_key(const char *key)
{
	if (conf_binding != conf_general_opts && conf_in_table(conf_general_opts, key))
		return true;
	for (size_t i = 0; i < CONF_NPARTS; i++)
		if (conf_parts[i]->general != conf_binding &&
		    conf_in_table(conf_parts[i]->general, key))
			return true;
	return false;
}

static void conf_destroy(void *obj)
{
	struct sip_cfg *cfg = obj;

	for (size_t i = 0; i < CONF_NPARTS; i++) {
		if (!cfg->parts || !cfg->parts[i])
			continue;
		if (conf_parts[i]->free)
			conf_parts[i]->free(cfg->parts[i]);
		octo_cfg_unbind(conf_parts[i]->general, cfg->parts[i]);
		free(cfg->parts[i]);
	}
	free(cfg->parts);
	octo_cfg_unbind(conf_general_opts, &cfg->g);
	free(cfg->localnets);
	free(cfg->tls_cert_path);
	free(cfg->tls_key_path);
	free(cfg->tls_cafile_path);
	octo_cfg_free(cfg->tree);
}

void *sip_cfg_part(const struct sip_cfg *cfg, const struct sip_cfg_part *part)
{
	for (size_t i = 0; i < CONF_NPARTS; i++)
		if (conf_parts[i] == part)
			return cfg->parts ? cfg->parts[i] : NULL;
	return NULL;
}

/* A file name relative to the config folder. */
static char *conf_path(const char *dir, const char *name)
{
	size_t n;
	char *p;

	if (!name)
		return NULL;
	if (name[0] == '/' || !dir)
		return octo_strdup(name);
	n = strlen(dir) + strlen(name) + 2;
	p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int conf_localnets(struct sip_cfg *cfg, const struct octo_cfg_section *sec,
			  struct octo_diags *diags)
{
	int rc = 0;

	for (size_t i = 0; i < cfg->g.localnet.count; i++) {
		struct octo_cidr *n;
		const char *err;

		n = realloc(cfg->localnets, (cfg->localnet_count + 1) * sizeof(*n));
		if (!n)
			return OCTO_ENOMEM;
		cfg->localnets = n;
		err = octo_cidr_parse(cfg->g.localnet.items[i], true, &n[cfg->localnet_count]);
		if (err) {
			/* the line of the key that holds this item */
			const struct octo_cfg_var *at = NULL;

			for (const struct octo_cfg_var *v = sec ? sec->vars : NULL; v; v = v->next)
				if (!strcmp(v->name, "localnet") &&
				    strstr(v->value, cfg->g.localnet.items[i]))
					at = v;
			octo_diags_add(diags, OCTO_DIAG_ERROR, at ? at->file : cfg->tree->file,
				       at ? at->line : 0, "[general] localnet: \"%s\" %s",
				       cfg->g.localnet.items[i], err);
			rc = OCTO_ECONFIG;
			continue;
		}
		cfg->localnet_count++;
	}
	return rc;
}

static int conf_tls(struct sip_cfg *cfg, const char *dir, const struct octo_cfg_section *sec,
		    struct octo_diags *diags)
{
	const struct octo_cfg_var *vc = sec ? octo_cfg_var_find(sec, "tls_cert") : NULL;
	const struct octo_cfg_var *vk = sec ? octo_cfg_var_find(sec, "tls_key") : NULL;
	const struct octo_cfg_var *va = sec ? octo_cfg_var_find(sec, "tls_cafile") : NULL;
	const struct octo_cfg_var *at;
	char err[400];

	if (!cfg->g.tls_cert != !cfg->g.tls_key) {
		at = vc ? vc : vk;
		octo_diags_add(diags, OCTO_DIAG_ERROR, at ? at->file : NULL, at ? at->line : 0,
			       "[general] %s: TLS needs both tls_cert and tls_key",
			       vc ? "tls_cert" : "tls_key");
		return OCTO_ECONFIG;
	}
	cfg->tls_cert_path = conf_path(dir, cfg->g.tls_cert);
	cfg->tls_key_path = conf_path(dir, cfg->g.tls_key);
	cfg->tls_cafile_path = conf_path(dir, cfg->g.tls_cafile);
	if (cfg->tls_cert_path &&
	    sip_tls_check(cfg->tls_cert_path, cfg->tls_key_path, NULL, err, sizeof(err))) {
		at = strstr(err, "private key") ? vk : vc;
		octo_diags_add(diags, OCTO_DIAG_ERROR, at ? at->file : NULL, at ? at->line : 0,
			       "[general] %s: %s (%s)", at == vk ? "tls_key" : "tls_cert", err,
			       at == vk ? cfg->tls_key_path : cfg->tls_cert_path);
		return OCTO_ECONFIG;
	}
	if (cfg->tls_cafile_path &&
	    sip_tls_check(NULL, NULL, cfg->tls_cafile_path, err, sizeof(err))) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, va ? va->file : NULL, va ? va->line : 0,
			       "[general] tls_cafile: %s (%s)", err, cfg->tls_cafile_path);
		return OCTO_ECONFIG;
	}
	return 0;
}

struct sip_cfg *sip_cfg_load(const char *dir, struct octo_diags *diags)
{
	struct sip_cfg *cfg = octo_obj_alloc(sizeof(struct sip_cfg), conf_destroy);
	const struct octo_cfg_section *gen;
	size_t errors = diags->errors;

	if (!cfg)
		return NULL;
	cfg->tree = octo_cfg_load(dir, "sip.conf", false, diags);
	if (!cfg->tree)
		goto fail;
	cfg->parts = calloc(CONF_NPARTS + 1, sizeof(*cfg->parts));
	if (!cfg->parts)
		goto fail;
	gen = octo_cfg_section(cfg->tree, "general");

	conf_binding = conf_general_opts;
	octo_cfg_bind(gen, conf_general_opts, &cfg->g, conf_other_key, diags);
	for (size_t i = 0; i < CONF_NPARTS; i++) {
		cfg->parts[i] = calloc(1, conf_parts[i]->size ? conf_parts[i]->size : 1);
		if (!cfg->parts[i])
			goto fail;
		if (conf_parts[i]->general) {
			conf_binding = conf_parts[i]->general;
			octo_cfg_bind(gen, conf_parts[i]->general, cfg->parts[i], conf_other_key,
				      diags);
		}
	}
	conf_binding = NULL;
	/* go on after binding errors: every problem of the file is reported */
	conf_localnets(cfg, gen, diags);
	if (cfg->g.t2 < cfg->g.t1) {
		const struct octo_cfg_var *v = octo_cfg_var_find(gen, "t2");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : NULL, v ? v->line : 0,
			       "[general] t2: must not be shorter than t1 (%u ms)", cfg->g.t1);
	}
	if (!cfg->g.udp && !cfg->g.tcp && !cfg->g.tls_cert)
		octo_diags_add(diags, OCTO_DIAG_WARNING, gen ? gen->file : cfg->tree->file,
			       gen ? gen->line : 0,
			       "[general] udp and tcp are off and TLS is not set up: SIP listens "
			       "nowhere");
	conf_tls(cfg, dir, gen, diags);

	/* sections other than [general] belong to the parts */
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg->tree); s;
	     s = octo_cfg_next(s)) {
		int claimed = 0;

		if (!strcmp(s->name, "general"))
			continue;
		for (size_t i = 0; i < CONF_NPARTS && !claimed; i++)
			if (conf_parts[i]->section)
				claimed = conf_parts[i]->section(cfg, cfg->parts[i], s, diags);
		if (claimed == 0)
			octo_diags_add(diags, OCTO_DIAG_WARNING, s->file, s->line,
				       "[%s] unknown section in sip.conf (ignored)%s", s->name,
				       octo_edit_distance(s->name, "general") <= 2
					       ? " (did you mean [general]?)"
					       : "");
	}
	for (size_t i = 0; i < CONF_NPARTS; i++)
		if (conf_parts[i]->check)
			conf_parts[i]->check(cfg, cfg->parts[i], diags);
	if (diags->errors > errors)
		goto fail;
	return cfg;

fail:
	conf_binding = NULL;
	if (diags->errors == errors)
		octo_diags_add(diags, OCTO_DIAG_ERROR, "sip.conf", 0, "out of memory");
	octo_obj_unref(cfg);
	return NULL;
}

struct sip_cfg *sip_cfg_get(void)
{
	struct sip_cfg *cfg;

	pthread_mutex_lock(&conf_lock);
	cfg = octo_obj_ref(conf_running);
	pthread_mutex_unlock(&conf_lock);
	return cfg;
}

void sip_cfg_set(struct sip_cfg *cfg)
{
	struct sip_cfg *old;

	octo_obj_ref(cfg);
	pthread_mutex_lock(&conf_lock);
	old = conf_running;
	conf_running = cfg;
	pthread_mutex_unlock(&conf_lock);
	octo_obj_unref(old);
	sip_txn_set_timers(cfg->g.t1, cfg->g.t2, cfg->g.t4);
	sip_msg_set_agent(cfg->g.user_agent);
	sip_transport_apply(cfg);
	sip_media_apply(sip_cfg_part(cfg, &conf_media_part));
}

void sip_cfg_clear(void)
{
	struct sip_cfg *old;

	pthread_mutex_lock(&conf_lock);
	old = conf_running;
	conf_running = NULL;
	pthread_mutex_unlock(&conf_lock);
	octo_obj_unref(old);
}

bool sip_cfg_is_local(const struct sip_cfg *cfg, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		if ((ntohl(s4->sin_addr.s_addr) >> 24) == 127)
			return true;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return true;
	}
	for (size_t i = 0; i < cfg->localnet_count; i++)
		if (octo_cidr_contains(&cfg->localnets[i], sa))
			return true;
	return false;
}

/* ---------------------------------------------------------------- [media] (sip_media.c) */

/* struct sip_media_conf first, so sip_cfg_part() gives one to sip_media_apply(). */
struct conf_media {
	struct sip_media_conf c;
	const struct octo_cfg_section *sec; /* [media], NULL when the file has none */
};

static const struct octo_cfg_opt conf_media_opts[] = {
	OCTO_CFG_UINT("rtp_start", struct sip_media_conf, rtp_start, "10000", 1024, 65534),
	OCTO_CFG_UINT("rtp_end", struct sip_media_conf, rtp_end, "20000", 1025, 65535),
	OCTO_CFG_DURATION("rtp_timeout", struct sip_media_conf, rtp_timeout, "60", 0, 86400),
	OCTO_CFG_UINT("media_workers", struct sip_media_conf, workers, "2", 1, 64),
	OCTO_CFG_END
};

static int conf_media_section(struct sip_cfg *cfg, void *data, const struct octo_cfg_section *sec,
			      struct octo_diags *diags)
{
	struct conf_media *mc = data;

	if (strcmp(sec->name, "media"))
		return 0;
	if (mc->sec)
		octo_cfg_unbind(conf_media_opts, &mc->c);
	memset(&mc->c, 0, sizeof(mc->c));
	mc->sec = sec;
	return octo_cfg_bind(sec, conf_media_opts, &mc->c, NULL, diags) ? OCTO_ECONFIG : 1;
}

static int conf_media_check(struct sip_cfg *cfg, void *data, struct octo_diags *diags)
{
	struct conf_media *mc = data;
	const struct octo_cfg_var *v;

	if (!mc->sec)
		octo_cfg_bind(NULL, conf_media_opts, &mc->c, NULL, diags); /* the defaults */
	if (mc->c.rtp_end >= mc->c.rtp_start + 3)
		return 0;
	v = mc->sec ? octo_cfg_var_find(mc->sec, "rtp_end") : NULL;
	octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : cfg->tree->file, v ? v->line : 0,
		       "[media] rtp_end: must be at least rtp_start + 3 (%u), room for two "
		       "RTP/RTCP port pairs",
		       mc->c.rtp_start + 3);
	return OCTO_ECONFIG;
}

static const struct sip_cfg_part conf_media_part = {
	.name = "media",
	.size = sizeof(struct conf_media),
	.section = conf_media_section,
	.check = conf_media_check,
};

/* ---------------------------------------------------------------- sip show settings */

/* The value of one bound key as text. */
static void conf_format(const struct octo_cfg_opt *o, const void *base, char *buf, size_t size)
{
	const char *field = (const char *)base + o->offset;

	buf[0] = '\0';
	switch (o->type) {
	case OCTO_CFG_T_STR: {
		const char *v = *(char *const *)(const void *)field;

		snprintf(buf, size, "%s", v ? v : "(none)");
		break;
	}
	case OCTO_CFG_T_INT: snprintf(buf, size, "%d", *(const int *)(const void *)field); break;
	case OCTO_CFG_T_UINT:
		snprintf(buf, size, "%u", *(const unsigned *)(const void *)field);
		break;
	case OCTO_CFG_T_DURATION:
		snprintf(buf, size, "%u s", *(const unsigned *)(const void *)field);
		break;
	case OCTO_CFG_T_DURATION_MS:
		snprintf(buf, size, "%u ms", *(const unsigned *)(const void *)field);
		break;
	case OCTO_CFG_T_BOOL:
		snprintf(buf, size, "%s", *(const bool *)(const void *)field ? "yes" : "no");
		break;
	case OCTO_CFG_T_ENUM: {
		int i = *(const int *)(const void *)field, n = 0;

		while (o->enum_values && o->enum_values[n])
			n++;
		snprintf(buf, size, "%s", i >= 0 && i < n ? o->enum_values[i] : "?");
		break;
	}
	case OCTO_CFG_T_LIST: {
		const struct octo_cfg_list *l = (const void *)field;
		size_t used = 0;

		for (size_t i = 0; i < l->count && used < size; i++)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
						 l->items[i]);
		if (!l->count)
			snprintf(buf, size, "(none)");
		break;
	}
	case OCTO_CFG_T_ADDR: {
		const struct octo_cidr *a = (const void *)field;
		char ip[INET6_ADDRSTRLEN] = "";

		if (!a->family) {
			snprintf(buf, size, "(none)");
			break;
		}
		inet_ntop(a->family, &a->addr, ip, sizeof(ip));
		if (a->prefix != (a->family == AF_INET ? 32u : 128u))
			snprintf(buf, size, "%s/%u", ip, a->prefix);
		else
			snprintf(buf, size, "%s", ip);
		break;
	}
	default: snprintf(buf, size, "(set)"); break;
	}
}

void sip_cfg_origin(const struct octo_cfg_var *v, char *buf, size_t size)
{
	const char *file = v && v->file ? strrchr(v->file, '/') : NULL;

	if (!v)
		snprintf(buf, size, "default");
	else
		snprintf(buf, size, "%s:%d", file ? file + 1 : (v->file ? v->file : "sip.conf"),
			 v->line);
}

static void conf_dump_table(const struct sip_cfg *cfg, const char *section,
			    const struct octo_cfg_opt *opts, const void *base,
			    void (*emit)(void *, const char *, const char *, const char *,
					 const char *),
			    void *ctx)
{
	const struct octo_cfg_section *sec = octo_cfg_section(cfg->tree, section);
	char value[1024], origin[300];

	for (; opts && opts->key; opts++) {
		conf_format(opts, base, value, sizeof(value));
		sip_cfg_origin(sec ? octo_cfg_var_find(sec, opts->key) : NULL, origin,
			       sizeof(origin));
		emit(ctx, section, opts->key, value, origin);
	}
}

void sip_cfg_dump(const struct sip_cfg *cfg,
		  void (*emit)(void *ctx, const char *section, const char *key, const char *value,
			       const char *origin),
		  void *ctx)
{
	const struct conf_media *mc = sip_cfg_part(cfg, &conf_media_part);

	conf_dump_table(cfg, "general", conf_general_opts, &cfg->g, emit, ctx);
	for (size_t i = 0; i < CONF_NPARTS; i++)
		if (conf_parts[i]->general && cfg->parts && cfg->parts[i])
			conf_dump_table(cfg, "general", conf_parts[i]->general, cfg->parts[i], emit,
					ctx);
	if (mc)
		conf_dump_table(cfg, "media", conf_media_opts, &mc->c, emit, ctx);
}
