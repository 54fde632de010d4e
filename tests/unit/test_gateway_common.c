/*
 * test_gateway_common.c - the gateway device model shared by chan_fxs,
 * chan_fxo, chan_bri, chan_pri, chan_gsm and chan_dect: gateways.conf
 * sections of every kind and their error messages, line numbers and DID
 * ranges, slot hunting (ascending, descending, round-robin), capacity per
 * BRI port and PRI span, release, and the CLI rendering of a gateway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/octo.h"

#include "gateway_common.h"
#include "octo_test.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif

/* Parses `text` and returns the gateway of `kind` of its first section (or
 * NULL); the diagnostics, joined by '\n', go to diag_text. */
static char diag_text[4096];

static struct gw *parse(const char *text, enum gw_kind kind)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = octo_cfg_parse_string(text, "gateways.conf", NULL, &d);
	struct gw *gw = NULL;
	size_t off = 0;

	if (cfg)
		gw = gw_parse_section(octo_cfg_first(cfg), kind, &d, NULL);
	diag_text[0] = '\0';
	for (size_t i = 0; i < d.count; i++)
		off += (size_t)snprintf(diag_text + off, sizeof(diag_text) - off, "%s\n",
					d.items[i].message);
	octo_diags_free(&d);
	octo_cfg_free(cfg);
	return gw;
}

OCTO_TEST(fxo_lines_and_defaults)
{
	struct gw *gw = parse("[fxo1]\ntype = fxo\nhost = 192.0.2.9\nline = 2,0212345672\n"
			      "line = 1,0212345671\n", GW_FXO);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_STR_EQ(diag_text, "");
	OCTO_CHECK_INT_EQ(gw->nlines, 2);
	OCTO_CHECK_INT_EQ(gw->nslots, 2);
	OCTO_CHECK_INT_EQ(gw->lines[0].id, 1); /* sorted by line number */
	OCTO_CHECK_STR_EQ(gw->lines[0].number, "0212345671");
	OCTO_CHECK_STR_EQ(gw->slots[1].tag, "2");
	OCTO_CHECK_STR_EQ(gw->cfg.trunk, "fxo1");       /* default: the section name */
	OCTO_CHECK_STR_EQ(gw->cfg.procedure, "main");
	OCTO_CHECK_STR_EQ(gw->cfg.tone_zone, "it");
	OCTO_CHECK_INT_EQ(gw->cfg.sip_port, 5060);
	OCTO_CHECK_INT_EQ(gw->cfg.hunting, GW_HUNT_ASC);
	OCTO_CHECK_INT_EQ(gw_line_by_number(gw, "0212345672"), 1);
	OCTO_CHECK_INT_EQ(gw_line_by_number(gw, "1"), 0);
	OCTO_CHECK_INT_EQ(gw_line_by_number(gw, "3"), -1);
	gw_free(gw);
}

OCTO_TEST(other_kind_is_skipped_quietly)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = octo_cfg_parse_string("[g]\ntype = gsm\nsim = 1,333\n",
						     "gateways.conf", NULL, &d);
	bool other = false;

	OCTO_CHECK(gw_parse_section(octo_cfg_first(cfg), GW_FXO, &d, &other) == NULL);
	OCTO_CHECK(other);
	OCTO_CHECK_INT_EQ(d.count, 0);
	octo_diags_free(&d);
	octo_cfg_free(cfg);
}

OCTO_TEST(fxo_errors_name_file_line_section_and_key)
{
	OCTO_CHECK(parse("[fxo1]\ntype = fxo\nhost = 192.0.2.9\nline = 1,02123\nline = 1,0333\n",
			 GW_FXO) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:5: [fxo1] line: line 1 is defined twice\n");
	OCTO_CHECK(parse("[fxo1]\ntype = fxo\nhost = 192.0.2.9\nline = 0,02123\n", GW_FXO) == NULL);
	OCTO_CHECK_STR_EQ(diag_text,
			  "gateways.conf:4: [fxo1] line: \"0\" is not a line number 1..64\n");
	OCTO_CHECK(parse("[fxo1]\ntype = fxo\nhost = 192.0.2.9\nline = 1,abc\n", GW_FXO) == NULL);
	OCTO_CHECK_STR_EQ(diag_text,
			  "gateways.conf:4: [fxo1] line: \"abc\" is not a phone number\n");
	OCTO_CHECK(parse("[fxo1]\ntype = fxo\nhost = 192.0.2.9\n", GW_FXO) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:1: [fxo1] no line defined (line = ...)\n");
	OCTO_CHECK(parse("[fxo1]\ntype = fxo\nline = 1,0212\n", GW_FXO) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:1: [fxo1] a dynamic gateway needs username "
			  "and secret to register with\n");
	OCTO_CHECK(parse("[fxo1]\ntype = fxo\nhost = gw.example.com\nline = 1,0212\n", GW_FXO) ==
		   NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:3: [fxo1] host: \"gw.example.com\" is not a "
			  "numeric IP address or \"dynamic\"\n");
	OCTO_CHECK(parse("[fxo1]\ntype = fxo\nhost = ::1\ntone_zone = xx\nline = 1,0212\n",
			 GW_FXO) == NULL);
	OCTO_CHECK_CONTAINS(diag_text, "gateways.conf:4: [fxo1] tone_zone: \"xx\" is not a known "
			    "tone zone");
}

OCTO_TEST(unknown_key_of_another_kind_is_a_warning)
{
	struct gw *gw = parse("[fxo1]\ntype = fxo\nhost = 192.0.2.9\nline = 1,0212\nsim = 1,33\n",
			      GW_FXO);

	OCTO_CHECK(gw != NULL);
	OCTO_CHECK_CONTAINS(diag_text, "gateways.conf:5: [fxo1] unknown option \"sim\"");
	gw_free(gw);
}

OCTO_TEST(fxo_hunting_orders)
{
	struct gw *gw = parse("[f]\ntype = fxo\nhost = 192.0.2.9\nhunting = descending\n"
			      "line = 1,01\nline = 2,02\nline = 3,03\n", GW_FXO);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_DESC, GW_SLOT_OUT, "0612", NULL), 2);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_DESC, GW_SLOT_OUT, "0613", NULL), 1);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_ASC, GW_SLOT_OUT, "0614", NULL), 0);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_ASC, GW_SLOT_OUT, "0615", NULL), -1);
	OCTO_CHECK_INT_EQ(gw_busy(gw), 3);
	OCTO_CHECK_STR_EQ(gw->slots[2].other, "0612");
	OCTO_CHECK(gw_slot_release(gw, "2"));
	OCTO_CHECK(!gw_slot_release(gw, "2"));   /* already free */
	OCTO_CHECK(!gw_slot_release(gw, "nope")); /* unknown tags are ignored */
	OCTO_CHECK(!gw_slot_release(gw, NULL));
	OCTO_CHECK_INT_EQ(gw_busy(gw), 2);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_ASC, GW_SLOT_IN, "", NULL), 1);
	OCTO_CHECK_INT_EQ(gw->slots[1].calls, 2);
	gw_free(gw);

	gw = parse("[f]\ntype = fxo\nhost = 192.0.2.9\nhunting = round-robin\n"
		   "line = 1,01\nline = 2,02\n", GW_FXO);
	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_RR, GW_SLOT_OUT, "1", NULL), 0);
	OCTO_CHECK(gw_slot_release(gw, "1"));
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_RR, GW_SLOT_OUT, "1", NULL), 1);
	OCTO_CHECK(gw_slot_release(gw, "2"));
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_RR, GW_SLOT_OUT, "1", NULL), 0);
	gw_free(gw);
}

OCTO_TEST(bri_ports_have_two_b_channels)
{
	struct gw *gw = parse("[isdn1]\ntype = bri\nhost = 192.0.2.10\n"
			      "port = 1,ptp,0212345600-0212345699\n"
			      "port = 2,ptmp,0298765431 0298765432\n", GW_BRI);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_STR_EQ(diag_text, "");
	OCTO_CHECK_INT_EQ(gw->nslots, 4);
	OCTO_CHECK_STR_EQ(gw->slots[0].tag, "1.1");
	OCTO_CHECK_STR_EQ(gw->slots[3].tag, "2.2");
	OCTO_CHECK(gw_numrange_match(&gw->lines[0].numbers[0], "0212345642"));
	OCTO_CHECK(!gw_numrange_match(&gw->lines[0].numbers[0], "021234564"));
	OCTO_CHECK(!gw_numrange_match(&gw->lines[0].numbers[0], "0212345700"));
	OCTO_CHECK(gw_numrange_match(&gw->lines[1].numbers[1], "0298765432"));
	/* two calls on port 1, the third finds it full */
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, 0, GW_HUNT_ASC, GW_SLOT_IN, "a", NULL), 0);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, 0, GW_HUNT_ASC, GW_SLOT_IN, "b", NULL), 1);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, 0, GW_HUNT_ASC, GW_SLOT_IN, "c", NULL), -1);
	OCTO_CHECK_INT_EQ(gw_line_busy(gw, 0), 2);
	OCTO_CHECK_INT_EQ(gw_line_busy(gw, 1), 0);
	/* outgoing hunting moves on to port 2 */
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_ASC, GW_SLOT_OUT, "d", NULL), 2);
	gw_free(gw);
}

OCTO_TEST(bri_errors)
{
	OCTO_CHECK(parse("[b]\ntype = bri\nhost = 192.0.2.10\nport = 1,ptmp,0212-0299\n",
			 GW_BRI) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [b] port: \"0212-0299\": a point-to-"
			  "multipoint port has MSNs (single numbers), not DID ranges\n");
	OCTO_CHECK(parse("[b]\ntype = bri\nhost = 192.0.2.10\nport = 1,bus,0212\n", GW_BRI) ==
		   NULL);
	OCTO_CHECK_STR_EQ(diag_text,
			  "gateways.conf:4: [b] port: \"bus\" is not a mode (ptp or ptmp)\n");
	OCTO_CHECK(parse("[b]\ntype = bri\nhost = 192.0.2.10\nport = 1,ptp,0299-0212\n",
			 GW_BRI) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [b] port: \"0299-0212\" is a range whose "
			  "first number is above its last\n");
	OCTO_CHECK(parse("[b]\ntype = bri\nhost = 192.0.2.10\nport = 1,ptp,02-0299\n", GW_BRI) ==
		   NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [b] port: \"02-0299\" is not a range of "
			  "numbers of the same length (like 0212345600-0212345699)\n");
}

OCTO_TEST(pri_spans_e1_t1_and_hunting)
{
	struct gw *gw = parse("[pri1]\ntype = pri\nhost = 192.0.2.11\nspan = 1,e1\nspan = 2,t1\n"
			      "did = 0212345600-0212345699, 0212345700\nhunting = descending\n",
			      GW_PRI);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_INT_EQ(gw->nslots, 53);
	OCTO_CHECK_INT_EQ(gw->lines[0].nslots, 30);
	OCTO_CHECK_INT_EQ(gw->lines[1].nslots, 23);
	OCTO_CHECK_INT_EQ(gw->ndids, 2);
	OCTO_CHECK_STR_EQ(gw->slots[29].tag, "1.30");
	OCTO_CHECK_STR_EQ(gw->slots[52].tag, "2.23");
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_DESC, GW_SLOT_OUT, "x", NULL), 52);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_ASC, GW_SLOT_IN, "y", NULL), 0);
	OCTO_CHECK(gw_numrange_match(&gw->dids[1], "0212345700"));
	gw_free(gw);
	OCTO_CHECK(parse("[p]\ntype = pri\nhost = 192.0.2.11\nspan = 1,j1\n", GW_PRI) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [p] span: \"j1\" is not a span type (e1: "
			  "30 B-channels, t1: 23)\n");
	OCTO_CHECK(parse("[p]\ntype = pri\nhost = 192.0.2.11\nspan = 1,e1\nhunting = round-robin\n",
			 GW_PRI) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:5: [p] hunting: a PRI hunts channels "
			  "ascending or descending\n");
}

static bool only_registered(const struct gw *gw, const struct gw_line *l)
{
	return !strcmp(l->state, "registered");
}

OCTO_TEST(gsm_sims_one_call_each_and_usable_ones_only)
{
	struct gw *gw = parse("[gsm1]\ntype = gsm\nhost = dynamic\nusername = gsm1\nsecret = s\n"
			      "sim = 1,+393331111111\nsim = 2,+393332222222\n"
			      "sms_email = sms@example.com\n", GW_GSM);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_INT_EQ(gw->cfg.hunting, GW_HUNT_RR);
	OCTO_CHECK(gw->cfg.sms);
	OCTO_CHECK_STR_EQ(gw->cfg.sms_email, "sms@example.com");
	OCTO_CHECK_STR_EQ(gw->slots[1].tag, "sim2");
	OCTO_CHECK_STR_EQ(gw->lines[0].state, "unknown");
	OCTO_CHECK_INT_EQ(gw->lines[0].signal, 99);
	octo_strlcpy(gw->lines[1].state, "registered", sizeof(gw->lines[1].state));
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_RR, GW_SLOT_OUT, "0612", only_registered),
			  1);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_RR, GW_SLOT_OUT, "0613", only_registered),
			  -1);
	gw_free(gw);
	OCTO_CHECK(parse("[g]\ntype = gsm\nhost = 192.0.2.12\nsim = 1,333\nsms_email = nobody\n",
			 GW_GSM) == NULL);
	OCTO_CHECK_STR_EQ(diag_text,
			  "gateways.conf:5: [g] sms_email: \"nobody\" is not an e-mail address\n");
	OCTO_CHECK(parse("[g]\ntype = gsm\nhost = 192.0.2.12\nsim = 1,333\nsim = 2,333\n",
			 GW_GSM) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:5: [g] sim: number 333 is on sim 1 already\n");
}

OCTO_TEST(fxs_ports_users_and_fax)
{
	struct gw *gw = parse("[fxs1]\ntype = fxs\nhost = 192.0.2.13\nport = 1,101\n"
			      "port = 2,190,fax\n", GW_FXS);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_STR_EQ(gw->lines[0].user, "101");
	OCTO_CHECK(!gw->lines[0].fax);
	OCTO_CHECK(gw->lines[1].fax);
	OCTO_CHECK(gw->cfg.trunk == NULL); /* FXS ports are users' devices, not a trunk */
	OCTO_CHECK(gw->cfg.procedure == NULL);
	gw_free(gw);
	OCTO_CHECK(parse("[x]\ntype = fxs\nhost = 192.0.2.13\nport = 1,101\nport = 2,101\n",
			 GW_FXS) == NULL);
	OCTO_CHECK_STR_EQ(diag_text,
			  "gateways.conf:5: [x] port: extension 101 has port 1 already\n");
	OCTO_CHECK(parse("[x]\ntype = fxs\nhost = 192.0.2.13\nport = 1,101,modem\n", GW_FXS) ==
		   NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [x] port: \"modem\": the third field can "
			  "only be \"fax\"\n");
	OCTO_CHECK(parse("[x]\ntype = fxs\nhost = 192.0.2.13\nport = 1\n", GW_FXS) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [x] port: \"1\" is not PORT,EXTENSION or "
			  "PORT,EXTENSION,fax\n");
}

OCTO_TEST(dect_bases_and_handsets)
{
	struct gw *gw = parse("[dect1]\ntype = dect\nsecret = s3\nbase = base1,127.0.0.1:5071\n"
			      "base = base2,dynamic\nhandset = 0328d3a4e1,101\n"
			      "handset = 0328D3A4E2,-,base2\n", GW_DECT);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK_STR_EQ(diag_text, "");
	OCTO_CHECK_INT_EQ(gw->nbases, 2);
	OCTO_CHECK_INT_EQ(gw->bases[0].port, 5071);
	OCTO_CHECK_STR_EQ(gw->bases[1].host, "dynamic");
	OCTO_CHECK_STR_EQ(gw->lines[0].ipui, "0328D3A4E1"); /* upper case */
	OCTO_CHECK_STR_EQ(gw->slots[0].tag, "0328D3A4E1");
	OCTO_CHECK_STR_EQ(gw->lines[0].user, "101");
	OCTO_CHECK_INT_EQ(gw->lines[0].base, 0);
	OCTO_CHECK_STR_EQ(gw->lines[1].user, "");
	OCTO_CHECK_INT_EQ(gw->lines[1].base, 1);
	gw_free(gw);
	OCTO_CHECK(parse("[d]\ntype = dect\nbase = b1,127.0.0.1\nhandset = 0328D3A4E1,101,b9\n",
			 GW_DECT) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [d] handset: no base \"b9\" (bases are "
			  "defined before handsets)\n");
	OCTO_CHECK(parse("[d]\ntype = dect\nbase = b1,127.0.0.1\nhandset = XYZ,101\n", GW_DECT) ==
		   NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [d] handset: \"XYZ\" is not an IPUI (4 to "
			  "23 hexadecimal digits)\n");
	OCTO_CHECK(parse("[d]\ntype = dect\nbase = b1,dynamic\n", GW_DECT) == NULL);
	OCTO_CHECK_STR_EQ(diag_text,
			  "gateways.conf:1: [d] dynamic base b1 needs the network's secret\n");
	OCTO_CHECK(parse("[d]\ntype = dect\nbase = b1,somewhere:99\n", GW_DECT) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:3: [d] base: \"somewhere:99\" is not a numeric "
			  "IP address or \"dynamic\", with an optional :PORT\n");
}

OCTO_TEST(hostile_values_do_not_overflow)
{
	char text[9000];
	size_t off = (size_t)snprintf(text, sizeof(text),
				      "[b]\ntype = bri\nhost = 192.0.2.10\nport = 1,ptmp,");

	for (int i = 0; i < 40 && off < sizeof(text) - 20; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "02%04d ", i);
	snprintf(text + off, sizeof(text) - off, "\n");
	OCTO_CHECK(parse(text, GW_BRI) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [b] port: more than 16 numbers\n");
	OCTO_CHECK(parse("[f]\ntype = fxo\nhost = 192.0.2.9\nline = 1,"
			 "0123456789012345678901234567890123456789\n", GW_FXO) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [f] line: \"0123456789012345678901234567890"
			  "123456789\" is not a phone number\n");
	OCTO_CHECK(parse("[f]\ntype = fxo\nhost = 192.0.2.9\nline = 1,,,,\n", GW_FXO) == NULL);
	OCTO_CHECK_STR_EQ(diag_text, "gateways.conf:4: [f] line: \"1,,,,\" is not LINE,NUMBER\n");
}

OCTO_TEST(load_all_reports_unknown_types_and_trunk_clashes)
{
	struct octo_diags d = { 0 };
	char dir[] = "/tmp/gwtestXXXXXX", path[64];
	size_t n = 9;
	bool errors;
	struct gw **gws;
	FILE *f;

	OCTO_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/gateways.conf", dir);
	f = fopen(path, "w");
	OCTO_CHECK(f != NULL);
	if (!f)
		return;
	fputs("[a]\ntype = fxo\nhost = 192.0.2.9\nline = 1,01\n"
	      "[z]\ntype = modem\n"
	      "[b]\ntype = fxo\nhost = 192.0.2.8\nline = 1,02\n", f);
	fclose(f);
	gws = gw_load_all(dir, GW_FXO, &n, &errors, &d);
	OCTO_CHECK(!errors);
	OCTO_CHECK_INT_EQ(n, 2);
	OCTO_CHECK_INT_EQ(d.count, 1);
	if (d.count)
		OCTO_CHECK_STR_EQ(d.items[0].message, "gateways.conf:6: [z] type: \"modem\" is not a "
				  "gateway type (fxs, fxo, bri, pri, gsm, dect): ignored");
	gw_free_all(gws, n);
	octo_diags_free(&d);

	f = fopen(path, "w");
	OCTO_CHECK(f != NULL);
	if (!f)
		return;
	fputs("[a]\ntype = fxo\nhost = 192.0.2.9\nline = 1,01\ntrunk = pstn\n"
	      "[b]\ntype = fxo\nhost = 192.0.2.8\nline = 1,02\ntrunk = PSTN\n", f);
	fclose(f);
	gws = gw_load_all(dir, GW_FXO, &n, &errors, &d);
	OCTO_CHECK(errors);
	OCTO_CHECK(gws == NULL);
	OCTO_CHECK_INT_EQ(n, 0);
	if (d.count)
		OCTO_CHECK_STR_EQ(d.items[0].message, "gateways.conf:6: [b] trunk PSTN is [a]'s "
				  "already");
	octo_diags_free(&d);
	unlink(path);
	rmdir(dir);
}

OCTO_TEST(cli_shows_slots_and_states)
{
	struct gw *gw = parse("[isdn1]\ntype = bri\nhost = 192.0.2.10\ndescription = Office ISDN\n"
			      "port = 1,ptmp,0298765431\n", GW_BRI);
	struct octo_cli_out *out;
	const char *text;
	char buf[512] = "";

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	gw_slot_take(gw, 0, GW_HUNT_ASC, GW_SLOT_OUT, "0612345678", NULL);
	out = octo_cli_out_alloc(false);
	gw_cli_show_one(out, gw);
	text = octo_cli_out_render(out, OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(text, "Office ISDN");
	OCTO_CHECK_CONTAINS(text, "192.0.2.10:5060");
	OCTO_CHECK_CONTAINS(text, "1 of 2");
	OCTO_CHECK_CONTAINS(text, "port 1 (ptmp): 0298765431");
	OCTO_CHECK_CONTAINS(text, "0612345678");
	octo_cli_out_free(out);
	out = octo_cli_out_alloc(true);
	gw_cli_row(out, gw);
	text = octo_cli_out_render(out, OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(text, "\"isdn1\",\"bri\",\"Unknown\",\"1\",\"1/2\",\"isdn1\"");
	octo_cli_out_free(out);
	gw_describe(gw, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "port 1 (ptmp): 0298765431, 1 of 2 busy\n");
	gw_free(gw);
}

/* The sample configs/gateways.conf: one gateway of each kind, without a
 * warning, with the trunks the sample `mobile` trunk group uses. */
OCTO_TEST(sample_config_has_one_gateway_of_each_kind)
{
	static const char *const trunks[GW_KINDS] = { NULL, "fxo1", "isdn1", "pri1", "gsm1", NULL };

	for (int k = 0; k < GW_KINDS; k++) {
		struct octo_diags d = { 0 };
		size_t n = 0;
		bool errors = true;
		struct gw **gws = gw_load_all(TEST_SRCDIR "/configs", (enum gw_kind)k, &n, &errors, &d);

		OCTO_CHECK(!errors);
		OCTO_CHECK_INT_EQ(d.count, 0);
		for (size_t i = 0; i < d.count; i++)
			printf("  %s\n", d.items[i].message);
		OCTO_CHECK_INT_EQ(n, 1);
		if (n == 1 && trunks[k])
			OCTO_CHECK_STR_EQ(gws[0]->cfg.trunk, trunks[k]);
		if (n == 1 && k == GW_GSM)
			OCTO_CHECK_INT_EQ(gws[0]->nslots, 2);
		if (n == 1 && k == GW_PRI)
			OCTO_CHECK_INT_EQ(gws[0]->nslots, 30);
		gw_free_all(gws, n);
		octo_diags_free(&d);
	}
}

/* The tone plans: every zone gateways.conf accepts has one, shown by
 * `gateway show NAME`. */
OCTO_TEST(tone_zones_have_their_national_tones)
{
	static const char *const zones[] = { "it", "de", "fr", "uk", "us", "es", "nl", "ch",
					     "at", "be", "pt", "se" };
	const struct gw_tone_zone *z = gw_tone_zone_find("UK");
	struct octo_cli_out *out;
	struct gw *gw;
	const char *text;

	OCTO_CHECK(z != NULL);
	if (z) {
		OCTO_CHECK_STR_EQ(z->zone, "uk");
		OCTO_CHECK_STR_EQ(z->country, "United Kingdom");
		OCTO_CHECK_STR_EQ(z->ringback, "400+450 Hz, 0.4 on 0.2 off 0.4 on 2.0 off");
		OCTO_CHECK_STR_EQ(z->busy, "400 Hz, 0.375 on 0.375 off");
	}
	z = gw_tone_zone_find("us");
	OCTO_CHECK(z && !strcmp(z->dial, "350+440 Hz, continuous"));
	OCTO_CHECK(gw_tone_zone_find("xx") == NULL);
	OCTO_CHECK(gw_tone_zone_find(NULL) == NULL);
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		z = gw_tone_zone_find(zones[i]);
		OCTO_CHECK(z && z->dial && z->ringback && z->busy && z->congestion);
	}
	gw = parse("[fxo1]\ntype = fxo\nhost = 192.0.2.9\ntone_zone = de\nline = 1,0212\n",
		   GW_FXO);
	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	out = octo_cli_out_alloc(false);
	gw_cli_show_one(out, gw);
	text = octo_cli_out_render(out, OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(text, "de (Germany): set the gateway to these tones");
	OCTO_CHECK_CONTAINS(text, "425 Hz, 0.48 on 0.48 off");
	OCTO_CHECK_CONTAINS(text, "425 Hz, 1.0 on 4.0 off");
	octo_cli_out_free(out);
	gw_free(gw);
}

/* What a reload compares: a change of the SIP side, or of the rest. */
OCTO_TEST(reload_signatures_split_sip_side_and_model)
{
	const char *base = "[fxo1]\ntype = fxo\nhost = 192.0.2.9\nsip_port = 5062\n"
			   "description = two lines\nline = 1,0212345670\n";
	char text[512];
	struct gw *a = parse(base, GW_FXO), *b, *c;

	snprintf(text, sizeof(text), "%sline = 2,0212345671\n", base);
	b = parse(text, GW_FXO);
	snprintf(text, sizeof(text), "%scodecs = PCMA\n", base);
	c = parse(text, GW_FXO);
	OCTO_CHECK(a && b && c);
	if (a && b && c) {
		OCTO_CHECK_STR_EQ(a->sip_sig, "type=fxo\nhost=192.0.2.9\nsip_port=5062\n");
		OCTO_CHECK_STR_EQ(a->model_sig, "description=two lines\nline=1,0212345670\n");
		OCTO_CHECK_STR_EQ(a->sip_sig, b->sip_sig);       /* a line: the model only */
		OCTO_CHECK(strcmp(a->model_sig, b->model_sig) != 0);
		OCTO_CHECK(strcmp(a->sip_sig, c->sip_sig) != 0); /* codecs: the SIP side */
		OCTO_CHECK_STR_EQ(a->model_sig, c->model_sig);
	}
	gw_free(a);
	gw_free(b);
	gw_free(c);
	/* DECT bases are the SIP side (each is a peer), handsets the model */
	a = parse("[d]\ntype = dect\nsecret = x\nbase = b1,192.0.2.1\nhandset = 0A0B0C,101\n",
		  GW_DECT);
	OCTO_CHECK(a != NULL);
	if (a) {
		OCTO_CHECK_STR_EQ(a->sip_sig, "type=dect\nsecret=x\nbase=b1,192.0.2.1\n");
		OCTO_CHECK_STR_EQ(a->model_sig, "handset=0A0B0C,101\n");
	}
	gw_free(a);
}

/* A gateway being removed by a reload takes no new call; gw_slot_idle is
 * what the devices providers ask (they take nothing themselves). */
OCTO_TEST(closing_gateway_takes_no_slot)
{
	struct gw *gw = parse("[fxs1]\ntype = fxs\nhost = 192.0.2.9\nport = 1,100\n"
			      "port = 2,101\n", GW_FXS);

	OCTO_CHECK(gw != NULL);
	if (!gw)
		return;
	OCTO_CHECK(gw_slot_idle(gw, 0));
	OCTO_CHECK_INT_EQ(gw_slot_take_at(gw, 0, GW_SLOT_IN, ""), 0);
	OCTO_CHECK(!gw_slot_idle(gw, 0));
	OCTO_CHECK(gw_slot_idle(gw, 1));
	OCTO_CHECK(!gw_slot_idle(gw, 2)); /* no such slot */
	gw->closing = true;
	OCTO_CHECK(!gw_slot_idle(gw, 1));
	OCTO_CHECK_INT_EQ(gw_slot_take_at(gw, 1, GW_SLOT_IN, ""), OCTO_EBUSY);
	OCTO_CHECK_INT_EQ(gw_slot_take(gw, -1, GW_HUNT_ASC, GW_SLOT_OUT, "1", NULL), -1);
	OCTO_CHECK(gw_slot_release(gw, "1")); /* its calls still end */
	OCTO_CHECK_INT_EQ(gw_busy(gw), 0);
	gw_free(gw);
}

/* Every user an FXS port or a DECT handset of the sample belongs to is a
 * user of the sample users.conf. */
OCTO_TEST(sample_gateway_users_exist)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *users = octo_cfg_load(TEST_SRCDIR "/configs", "users.conf", false, &d);
	unsigned checked = 0;

	OCTO_CHECK(users != NULL);
	for (int k = 0; users && k < GW_KINDS; k++) {
		size_t n = 0;
		bool errors = true;
		struct gw **gws;

		gws = gw_load_all(TEST_SRCDIR "/configs", (enum gw_kind)k, &n, &errors, &d);
		for (size_t i = 0; i < n; i++)
			for (size_t l = 0; l < gws[i]->nlines; l++) {
				const char *u = gws[i]->lines[l].user;
				bool found = false;

				if (!*u)
					continue;
				const struct octo_cfg_section *sec = octo_cfg_first(users);

				for (; sec; sec = octo_cfg_next(sec))
					found = found || !strcmp(sec->name, u);
				if (!found)
					printf("  [%s] line %u: user %s is not in users.conf\n",
					       gws[i]->name, gws[i]->lines[l].id, u);
				OCTO_CHECK(found);
				checked++;
			}
		gw_free_all(gws, n);
	}
	OCTO_CHECK(checked >= 4); /* fxs1's 103 and 190, dect1's 101 and 102 */
	octo_cfg_free(users);
	octo_diags_free(&d);
}

OCTO_TEST_MAIN()
