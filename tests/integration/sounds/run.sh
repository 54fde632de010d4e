#!/usr/bin/env bash
# sounds: the prompts generated at build time (en and it: every prompt of
# the lists, valid 8 kHz 16-bit mono PCM WAV files), the codec and format
# modules in the daemon, `sound show` finding every prompt in both languages
# with nothing missing, and format_wav unloaded and loaded again.
. "$(dirname "$0")/../lib.sh"

sounds="$OCTO_BUILD/sounds"
lists="$OCTO_SRC/contrib/sounds"

# ---------------------------------------------------------------- the files
if [ ! -d "$sounds/en" ] || [ ! -d "$sounds/it" ]; then
	fail "prompts generated" "no $sounds/en or $sounds/it (make builds them)"
	exit 1
fi
pass "prompts generated"

# Prompts a list asks for, plus beep and silence/1 that generate.sh adds.
listed()
{
	echo $(($(grep -cvE '^[[:space:]]*(#|@|$)' "$lists/$1.txt") + 2))
}
n_en=$(listed en)
n_it=$(listed it)
for lang in en it; do
	want=$(listed "$lang")
	got=$(find "$sounds/$lang" -type f -name '*.wav' | wc -l)
	if [ "$got" -eq "$want" ] && [ "$want" -gt 200 ]; then
		pass "$lang: $got prompts"
	else
		fail "$lang: prompts" "$got files, the list has $want"
	fi
done

missing=""
for f in en/vm-intro en/vm-youhave en/vm-newmessages en/digits/0 en/digits/5 en/digits/99 \
	en/digits/hundred en/digits/thousand en/days/monday en/months/december en/beep \
	en/silence/1 en/call-notallowed en/pls-hold en/invalid en/enter-ext en/welcome \
	en/ivr-sales it/vm-intro it/digits/21 it/digits/thousands it/days/sunday \
	it/months/december it/beep moh/default/chords; do
	[ -s "$sounds/$f.wav" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then
	pass "named prompts exist"
else
	fail "named prompts exist" "missing:$missing"
fi

# Every file: RIFF/WAVE, 8000 Hz, mono, 16-bit signed PCM, not empty.
mapfile -t files < <(find "$sounds" -type f -name '*.wav' | sort)
bad=""
for f in "${files[@]}"; do
	[ "$(head -c 4 "$f")" = RIFF ] && [ "$(tail -c +9 "$f" | head -c 4)" = WAVE ] || bad="$bad $f"
done
if [ -z "$bad" ]; then
	pass "RIFF/WAVE headers (${#files[@]} files)"
else
	fail "RIFF/WAVE headers" "$bad"
fi
for what in "-r 8000" "-c 1" "-b 16" "-e Signed Integer PCM"; do
	opt=${what%% *}
	val=${what#* }
	odd=$(sox --i "$opt" "${files[@]}" 2>&1 | grep -vcxF "$val")
	if [ "$odd" -eq 0 ]; then
		pass "all files: sox --i $opt is $val"
	else
		fail "all files: sox --i $opt" "$odd files are not $val"
	fi
done
empty=$(sox --i -s "${files[@]}" 2>&1 | grep -cx '0')
if [ "$empty" -eq 0 ]; then
	pass "no empty prompt"
else
	fail "no empty prompt" "$empty empty files"
fi
moh=$(sox --i -D "$sounds/moh/default/chords.wav" 2>/dev/null)
case "$moh" in
[5-9].* | [1-5][0-9].*) pass "music on hold: ${moh}s" ;;
*) fail "music on hold" "duration '$moh'" ;;
esac

# ---------------------------------------------------------------- the daemon
octo_config_dir
sed -i "/^\[directories\]/a sounds = $sounds" "$OCTO_CONF/octo.conf"
octo_start || exit 1

for m in codec_g711 format_wav format_raw; do
	check_rx "$m loaded" "running" module show like "$m"
done
check_rx "sound folder in use" "$sounds" core show settings

check_output "sound show: en, nothing missing" "[\"en\",\"$n_en\",\"0\"]" octo_rx_json sound show
check_output "sound show: it, nothing missing" "[\"it\",\"$n_it\",\"0\"]" octo_rx_json sound show
check_output "sound show: moh is no language" '"languages":"2"' octo_rx_json sound show
check_output "sound show en: count" "\"prompts\":\"$n_en\"" octo_rx_json sound show en
check_output "sound show en: none missing" '"missing":"0"' octo_rx_json sound show en
check_output "sound show it: count" "\"prompts\":\"$n_it\"" octo_rx_json sound show it
check_output "sound show it: none missing" '"missing":"0"' octo_rx_json sound show it
check_output "sound show it: a prompt" '["vm-intro","wav","ok"]' octo_rx_json sound show it
check_output "sound show it: digits" '["digits/21","wav","ok"]' octo_rx_json sound show it
check_rx "sound show it: text" "vm-intro" sound show it
check_fails "sound show of an unknown language fails" octo_rx sound show xx
check_output "its reason" 'no prompts for language "xx"' bash -c \
	"'$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -rx 'sound show xx' 2>&1; true"
check_fails "sound show refuses a path" octo_rx sound show ../it

# Without the WAV format no prompt is found; loaded again, all are back.
check_rx "unload format_wav" "Unloaded format_wav" module unload format_wav
check_output "no WAV prompts without format_wav" '"prompts":"0"' octo_rx_json sound show en
check_rx "load format_wav again" "Loaded format_wav" module load format_wav
check_output "prompts back" "\"prompts\":\"$n_en\"" octo_rx_json sound show en
check_rx "unload format_raw" "Unloaded format_raw" module unload format_raw
check_rx "load format_raw again" "Loaded format_raw" module load format_raw
check_rx "unload codec_g711" "Unloaded codec_g711" module unload codec_g711
check_rx "load codec_g711 again" "Loaded codec_g711" module load codec_g711

octo_stop
