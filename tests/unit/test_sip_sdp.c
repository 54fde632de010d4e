/*
 * test_sip_sdp.c - chan_sip's SDP offer/answer (sip_sdp.c): parsing and
 * validation of hostile session descriptions, the codec choice by a user's
 * preference, and the text of our offers and answers.
 */
#include <string.h>

#include "octo_test.h"
#include "sip.h"

static const char offer[] = "v=0\r\n"
			    "o=- 1 1 IN IP4 192.168.1.10\r\n"
			    "s=call\r\n"
			    "c=IN IP4 192.168.1.10\r\n"
			    "t=0 0\r\n"
			    "m=audio 6000 RTP/AVP 0 8 101\r\n"
			    "a=rtpmap:0 PCMU/8000\r\n"
			    "a=rtpmap:8 PCMA/8000\r\n"
			    "a=rtpmap:101 telephone-event/8000\r\n"
			    "a=fmtp:101 0-16\r\n"
			    "a=sendrecv\r\n";

static int parse(const char *text, struct sip_sdp *s, const char **why)
{
	return sip_sdp_parse(text, strlen(text), s, why);
}

OCTO_TEST(phone_offer_is_parsed)
{
	struct sip_sdp s;
	const char *why = "x";

	OCTO_CHECK_INT_EQ(parse(offer, &s, &why), 0);
	OCTO_CHECK(why == NULL);
	OCTO_CHECK_STR_EQ(s.ip, "192.168.1.10");
	OCTO_CHECK_INT_EQ(s.port, 6000);
	OCTO_CHECK_INT_EQ(s.nfmts, 3);
	OCTO_CHECK_STR_EQ(s.fmts[0].name, "PCMU");
	OCTO_CHECK_STR_EQ(s.fmts[1].name, "PCMA");
	OCTO_CHECK_STR_EQ(s.fmts[2].name, "telephone-event");
	OCTO_CHECK_INT_EQ(s.dtmf_pt, 101);
	OCTO_CHECK_INT_EQ(s.dir, SIP_DIR_SENDRECV);
	OCTO_CHECK_INT_EQ(s.nstreams, 1);
	OCTO_CHECK_INT_EQ(s.audio_index, 0);
}

OCTO_TEST(codec_follows_the_user_preference)
{
	struct sip_sdp s;
	const char *why;

	OCTO_CHECK_INT_EQ(parse(offer, &s, &why), 0);
	OCTO_CHECK_INT_EQ(sip_sdp_choose(&s, "PCMA,PCMU"), 1);
	OCTO_CHECK_INT_EQ(sip_sdp_choose(&s, "PCMU"), 0);
	OCTO_CHECK_INT_EQ(sip_sdp_choose(&s, NULL), 0);
	OCTO_CHECK_INT_EQ(sip_sdp_choose(&s, "G729, PCMA"), 1);
	OCTO_CHECK_INT_EQ(sip_sdp_choose(&s, "G729"), -1);
}

OCTO_TEST(hold_and_media_level_attributes)
{
	struct sip_sdp s;
	const char *why;

	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n"
				"m=audio 4000 RTP/AVP 8\r\nc=IN IP4 10.0.0.5\r\na=sendonly\r\n"
				"m=video 5000 RTP/AVP 96\r\n",
				&s, &why),
			  0);
	OCTO_CHECK_INT_EQ(s.dir, SIP_DIR_SENDONLY);
	OCTO_CHECK_INT_EQ(s.nstreams, 2);
	OCTO_CHECK_STR_EQ(s.streams[1], "video RTP/AVP 96");
	OCTO_CHECK_INT_EQ(s.dtmf_pt, -1);
	/* RFC 2543 hold */
	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\n"
				"t=0 0\r\nm=audio 7000 RTP/AVP 0\r\n",
				&s, &why),
			  0);
	OCTO_CHECK_INT_EQ(s.dir, SIP_DIR_SENDONLY);
}

/* RFC 3605: where the far end wants RTCP; a bad a=rtcp is ignored. */
OCTO_TEST(rtcp_attribute)
{
	struct sip_sdp s;
	const char *why;

	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n"
				"m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.5\r\na=rtcp:53020\r\n",
				&s, &why),
			  0);
	OCTO_CHECK_INT_EQ(s.rtcp_port, 53020);
	OCTO_CHECK_STR_EQ(s.rtcp_ip, "");
	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n"
				"m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.5\r\n"
				"a=rtcp:53021 IN IP4 192.0.2.9\r\n",
				&s, &why),
			  0);
	OCTO_CHECK_INT_EQ(s.rtcp_port, 53021);
	OCTO_CHECK_STR_EQ(s.rtcp_ip, "192.0.2.9");
	/* none, port 0, a name for an address, a wrong address type: port + 1 */
	static const char *const bad[] = { "", "a=rtcp:0\r\n", "a=rtcp:70000\r\n",
					   "a=rtcp:5000 IN IP4 pbx.example.com\r\n",
					   "a=rtcp:5000 IN IP6 192.0.2.9\r\n", "a=rtcp:x\r\n",
					   "a=rtcp\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char sdp[512];

		snprintf(sdp, sizeof(sdp),
			 "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n"
			 "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.5\r\n%s",
			 bad[i]);
		OCTO_CHECK_INT_EQ(parse(sdp, &s, &why), 0);
		OCTO_CHECK_INT_EQ(s.rtcp_port, 0);
	}
}

OCTO_TEST(hostile_descriptions_are_refused_with_a_reason)
{
	struct sip_sdp s;
	const char *why = NULL;
	char big[SIP_SDP_MAX_LEN + 2];

	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n"
				"m=audio 7000 RTP/AVP 0\r\n",
				&s, &why),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "no connection address (c=)");
	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
				"t=0 0\r\nm=video 7000 RTP/AVP 31\r\n",
				&s, &why),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "no RTP/AVP audio stream");
	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 host.example\r\n"
				"t=0 0\r\nm=audio 7000 RTP/AVP 0\r\n",
				&s, &why),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "the connection address is not a numeric IP address");
	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
				"t=0 0\r\nm=audio 70000 RTP/AVP 0\r\n",
				&s, &why),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "no RTP/AVP audio stream");
	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\n"
				"t=0 0\r\nm=audio 7000 RTP/AVP 0 999\r\n",
				&s, &why),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "a payload type is not a number 0..127");
	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 1\rIN IP4 1.2.3.4\r\n", &s, &why), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "a CR without LF in the session description");
	OCTO_CHECK_INT_EQ(parse("v=0\r\nhello\r\n", &s, &why), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "a line of the session description is not <type>=<value>");
	OCTO_CHECK_INT_EQ(sip_sdp_parse("v=0\r\n\0x", 8, &s, &why), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "a NUL byte in the session description");
	memset(big, 'a', sizeof(big));
	OCTO_CHECK_INT_EQ(sip_sdp_parse(big, sizeof(big), &s, &why), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "the session description is too large");
	OCTO_CHECK_INT_EQ(sip_sdp_parse(NULL, 0, &s, &why), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(why, "no session description");
}

OCTO_TEST(answer_rejects_other_streams_and_keeps_the_order)
{
	struct sip_sdp s, again;
	const char *why;
	char out[1024];
	size_t n;
	struct sip_sdp_local l = { .ip = "127.0.0.1",
				   .port = 10000,
				   .sess_id = 7,
				   .sess_ver = 3,
				   .dir = SIP_DIR_RECVONLY,
				   .ncodecs = 1,
				   .dtmf_pt = -1 };

	OCTO_CHECK_INT_EQ(parse("v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n"
				"m=video 5000 RTP/AVP 96\r\n"
				"m=audio 4000 RTP/AVP 8\r\nc=IN IP4 10.0.0.5\r\na=sendonly\r\n",
				&s, &why),
			  0);
	OCTO_CHECK_INT_EQ(s.audio_index, 1);
	l.codecs[0] = s.fmts[0];
	l.answer_to = &s;
	n = sip_sdp_build(out, sizeof(out), &l);
	OCTO_CHECK_STR_EQ(out, "v=0\r\no=octo 7 3 IN IP4 127.0.0.1\r\ns=Octo\r\n"
			       "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
			       "m=video 0 RTP/AVP 96\r\n"
			       "m=audio 10000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
			       "a=ptime:20\r\na=recvonly\r\n");
	OCTO_CHECK_INT_EQ(n, strlen(out));
	OCTO_CHECK_INT_EQ(parse(out, &again, &why), 0);
	OCTO_CHECK_INT_EQ(again.dir, SIP_DIR_RECVONLY);
	/* too small a buffer: nothing */
	OCTO_CHECK_INT_EQ(sip_sdp_build(out, 40, &l), 0);
}

OCTO_TEST(offer_lists_codecs_and_telephone_event)
{
	char out[1024];
	struct sip_sdp_local l = {
		.ip = "::1", .port = 10002, .sess_id = 1, .sess_ver = 1, .ncodecs = 2, .dtmf_pt = 101
	};

	l.codecs[0] = (struct sip_sdp_fmt){ 8, "PCMA", 8000 };
	l.codecs[1] = (struct sip_sdp_fmt){ 0, "PCMU", 8000 };
	OCTO_CHECK(sip_sdp_build(out, sizeof(out), &l) > 0);
	OCTO_CHECK_CONTAINS(out, "c=IN IP6 ::1\r\n");
	OCTO_CHECK_CONTAINS(out, "m=audio 10002 RTP/AVP 8 0 101\r\n");
	OCTO_CHECK_CONTAINS(out, "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
	OCTO_CHECK_CONTAINS(out, "a=sendrecv\r\n");
}

__attribute__((constructor)) static void test_parser_init(void)
{
	parser_init();
}

OCTO_TEST_MAIN()
