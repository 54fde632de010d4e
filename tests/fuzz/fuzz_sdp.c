/*
 * fuzz_sdp.c - libFuzzer harness for chan_sip's SDP path (sip_sdp.c): an
 * arbitrary body goes through sip_sdp_parse() the way an INVITE's or a
 * 200's body does; when it is accepted, the result must hold what the calls
 * code relies on (a numeric address, a port 1..65535, 1..16 formats with
 * payload types 0..127, a telephone-event type that is one of them), the
 * codec choice must stay in range for several preference strings, and the
 * answer built from it (sip_sdp_build) must parse again with the same
 * stream count, port and direction.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *        core/util.c modules/channels/chan_sip/sip_sdp.c tests/fuzz/fuzz_sdp.c \
 *        -losipparser2
 * Run:   ./a.out tests/fuzz/corpus/sdp
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* by path, so contrib/test.sh needs no -I for the module's folder */
#include "../../modules/channels/chan_sip/sip.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sdp: check failed: %s (line %d)\n", #cond,           \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void fz_trace(const char *fi, int li, osip_trace_level_t level, const char *chfr, va_list ap)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	static const char *const prefs[] = { NULL, "", "PCMA,PCMU", "PCMU", "G729, PCMA", ",,," };
	struct sip_sdp sdp, again;
	struct sip_sdp_local l = { .ip = "127.0.0.1", .port = 10000, .sess_id = 1, .sess_ver = 2 };
	const char *why = NULL;
	char out[4096];
	unsigned char ip[16];
	size_t n;
	int idx = -1;

	if (!inited) {
		parser_init();
		osip_trace_initialize_func(END_TRACE_LEVEL, fz_trace);
		inited = 1;
	}
	if (sip_sdp_parse((const char *)data, size, &sdp, &why) != 0) {
		FZ_CHECK(why != NULL);
		return 0;
	}
	FZ_CHECK(why == NULL);
	FZ_CHECK(sdp.port >= 1 && sdp.port <= 65535);
	FZ_CHECK(inet_pton(AF_INET, sdp.ip, ip) == 1 || inet_pton(AF_INET6, sdp.ip, ip) == 1);
	FZ_CHECK(sdp.nfmts >= 1 && sdp.nfmts <= SIP_SDP_MAX_FMTS);
	FZ_CHECK(sdp.nstreams >= 1 && sdp.nstreams <= SIP_SDP_MAX_STREAMS);
	FZ_CHECK(sdp.audio_index >= 0 && sdp.audio_index < sdp.nstreams);
	FZ_CHECK(sdp.dir >= SIP_DIR_SENDRECV && sdp.dir <= SIP_DIR_INACTIVE);
	for (int i = 0; i < sdp.nfmts; i++) {
		FZ_CHECK(sdp.fmts[i].pt >= 0 && sdp.fmts[i].pt <= 127);
		FZ_CHECK(memchr(sdp.fmts[i].name, '\0', sizeof(sdp.fmts[i].name)) != NULL);
	}
	if (sdp.dtmf_pt >= 0) {
		bool found = false;

		for (int i = 0; i < sdp.nfmts; i++)
			found |= sdp.fmts[i].pt == sdp.dtmf_pt;
		FZ_CHECK(found);
	}
	for (size_t p = 0; p < sizeof(prefs) / sizeof(prefs[0]); p++) {
		int k = sip_sdp_choose(&sdp, prefs[p]);

		FZ_CHECK(k >= -1 && k < sdp.nfmts);
		if (k >= 0 && idx < 0)
			idx = k;
	}
	if (idx < 0)
		return 0;
	/* the answer we would send */
	l.codecs[0] = sdp.fmts[idx];
	l.ncodecs = 1;
	l.dtmf_pt = sdp.dtmf_pt;
	l.dir = sdp.dir == SIP_DIR_SENDONLY ? SIP_DIR_RECVONLY : SIP_DIR_SENDRECV;
	l.answer_to = &sdp;
	n = sip_sdp_build(out, sizeof(out), &l);
	FZ_CHECK(n > 0);
	FZ_CHECK(sip_sdp_parse(out, n, &again, &why) == 0);
	FZ_CHECK(again.nstreams == sdp.nstreams);
	FZ_CHECK(again.audio_index == sdp.audio_index);
	FZ_CHECK(again.port == 10000);
	FZ_CHECK(again.dir == l.dir);
	FZ_CHECK(again.fmts[0].pt == sdp.fmts[idx].pt);
	return 0;
}
