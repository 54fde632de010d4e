/*
 * fuzz_config.c - libFuzzer harness for the config parser and the binder.
 * Arbitrary bytes are parsed with octo_cfg_parse_string (no config folder, so
 * #include is refused), every section is bound to a table that uses every
 * option type, and the results are checked for consistency: a tree only
 * without errors, every message prefixed with the file name, bound values
 * inside their bounds. Also feeds each value to the shared value parsers.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *        core/util.c core/config.c core/cfgbind.c tests/fuzz/fuzz_config.c
 * Run:   ./a.out tests/fuzz/corpus/config
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "octo/config.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_config: check failed: %s (line %d)\n", #cond,        \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fz_all {
	char *str;
	int num;
	unsigned unum;
	bool flag;
	int mode;
	struct octo_cfg_list list;
	struct octo_cfg_list multi;
	unsigned dur;
	unsigned dur_ms;
	struct octo_cidr net;
	struct octo_cidr host;
	char *custom;
	char *req;
};

static const char *const fz_modes[] = { "udp", "tcp", "tls", NULL };

static const char *fz_set(void *field, const char *value)
{
	char **p = field;

	if (value[0] == '!')
		return "is not a valid thing";
	FZ_CHECK(*p == NULL); /* a setter runs at most once per field */
	*p = octo_strdup(value);
	return NULL;
}

static void fz_free(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

static const struct octo_cfg_opt fz_opts[] = {
	OCTO_CFG_STR("str", struct fz_all, str, "dflt", 0),
	OCTO_CFG_INT("num", struct fz_all, num, "5", -100, 100),
	OCTO_CFG_UINT("unum", struct fz_all, unum, NULL, 0, 0),
	OCTO_CFG_BOOL("flag", struct fz_all, flag, "no"),
	OCTO_CFG_ENUM("mode", struct fz_all, mode, "tcp", fz_modes),
	OCTO_CFG_LIST("list", struct fz_all, list, "a,b", 0),
	OCTO_CFG_LIST("multi", struct fz_all, multi, "x", OCTO_CFG_MULTI),
	OCTO_CFG_DURATION("dur", struct fz_all, dur, "1h", 60, 86400),
	OCTO_CFG_DURATION_MS("dur_ms", struct fz_all, dur_ms, "250ms", 0, 0),
	OCTO_CFG_ADDR("net", struct fz_all, net, "10.0.0.0/8", 0),
	OCTO_CFG_ADDR("host", struct fz_all, host, NULL, OCTO_CFG_NO_PREFIX),
	OCTO_CFG_CUSTOM("custom", struct fz_all, custom, "c", fz_set, fz_free),
	OCTO_CFG_STR("req", struct fz_all, req, NULL, OCTO_CFG_REQUIRED),
	OCTO_CFG_END
};

static bool fz_ignore(const char *key)
{
	return !strcmp(key, "exten");
}

static void fz_check_diags(const struct octo_diags *d, size_t from)
{
	size_t errors = 0;

	for (size_t i = 0; i < d->count; i++) {
		FZ_CHECK(d->items[i].message != NULL);
		errors += d->items[i].severity == OCTO_DIAG_ERROR;
		if (i >= from && d->items[i].file)
			FZ_CHECK(!strncmp(d->items[i].message, "fuzz.conf", 9));
	}
	FZ_CHECK(errors == d->errors);
}

static void fz_values(const char *value)
{
	unsigned long long v;
	struct octo_cidr c;
	bool b;

	if (!octo_cfg_parse_duration(value, false, &v))
		FZ_CHECK(value[0] >= '0' && value[0] <= '9');
	octo_cfg_parse_duration(value, true, &v);
	if (!octo_cfg_parse_bool(value, &b))
		FZ_CHECK(strlen(value) <= 5);
	if (!octo_cidr_parse(value, true, &c)) {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
		struct sockaddr_in sin = { .sin_family = AF_INET };

		FZ_CHECK(c.family == AF_INET ? c.prefix <= 32 : c.prefix <= 128);
		if (c.family == AF_INET) {
			sin.sin_addr = c.addr.v4;
			FZ_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin));
		} else {
			sin6.sin6_addr = c.addr.v6;
			FZ_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin6));
		}
	}
}

static void fz_bind(const struct octo_cfg_section *s, struct octo_diags *d)
{
	struct fz_all all;
	size_t before = d->count, errors_before = d->errors;
	int rc;

	memset(&all, 0, sizeof(all));
	rc = octo_cfg_bind(s, fz_opts, &all, fz_ignore, d);
	fz_check_diags(d, before);
	FZ_CHECK((rc == 0) == (d->errors == errors_before));
	if (rc == 0) {
		FZ_CHECK(all.req != NULL && all.str != NULL && all.custom != NULL);
		FZ_CHECK(octo_cfg_var_find(s, "req") != NULL);
	}
	FZ_CHECK(all.num >= -100 && all.num <= 100);
	FZ_CHECK(all.mode >= 0 && all.mode <= 2);
	FZ_CHECK(all.dur >= 60 && all.dur <= 86400);
	FZ_CHECK(all.net.family == AF_INET || all.net.family == AF_INET6);
	FZ_CHECK(all.host.family == 0 || all.host.prefix == 32 || all.host.prefix == 128);
	for (size_t i = 0; i < all.list.count; i++)
		FZ_CHECK(all.list.items[i][0] != '\0' && !strchr(all.list.items[i], ','));
	for (size_t i = 0; i < all.multi.count; i++)
		FZ_CHECK(all.multi.items[i][0] != '\0' && !strchr(all.multi.items[i], ','));
	octo_cfg_unbind(fz_opts, &all);
	FZ_CHECK(all.str == NULL && all.list.items == NULL && all.custom == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octo_diags d = { 0 }, copy = { 0 };
	struct octo_cfg *cfg;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0'; /* text stops at the first NUL byte, like a C string */

	cfg = octo_cfg_parse_string(text, "fuzz.conf", NULL, &d);
	fz_check_diags(&d, 0);
	FZ_CHECK((cfg != NULL) == (d.errors == 0));
	if (cfg) {
		for (const struct octo_cfg_section *s = cfg->sections; s; s = s->next) {
			FZ_CHECK(s->name[0] != '\0');
			FZ_CHECK(octo_cfg_section(cfg, s->name) == (s->is_template ? NULL : s));
		}
		for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s;
		     s = octo_cfg_next(s)) {
			FZ_CHECK(!s->is_template);
			size_t n = 0;

			for (const struct octo_cfg_var *v = s->vars; v; v = v->next, n++) {
				FZ_CHECK(v->name[0] != '\0');
				/* lookups walk the section: keep the harness linear */
				if (n < 64) {
					FZ_CHECK(octo_cfg_var_find(s, v->name) != NULL);
					FZ_CHECK(octo_cfg_value(cfg, s->name, v->name) != NULL);
				}
				FZ_CHECK(octo_edit_distance(v->name, v->name) == 0);
				octo_edit_distance(v->name, "secret");
				fz_values(v->value);
			}
			fz_bind(s, &d);
		}
		octo_cfg_free(cfg);
	}
	octo_diags_merge(&copy, &d);
	FZ_CHECK(copy.count == d.count && copy.errors == d.errors);
	octo_diags_free(&copy);
	octo_diags_free(&d);
	free(text);
	return 0;
}
