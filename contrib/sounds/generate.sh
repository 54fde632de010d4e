#!/usr/bin/env bash
# generate.sh - makes Octo's prompts with espeak-ng and sox from the prompt
# lists beside this script (one per language: en.txt, it.txt ...), plus a
# beep and a second of silence per language and a music-on-hold class made
# of synthesized chords. Everything is 8000 Hz 16-bit mono PCM WAV:
#
#   OUTDIR/<language>/<name>.wav     one per line of <language>.txt
#   OUTDIR/<language>/beep.wav       1 kHz tone, 0.25 s
#   OUTDIR/<language>/silence/1.wav  1 s of silence
#   OUTDIR/moh/default/*.wav         music on hold
#
#   contrib/sounds/generate.sh OUTDIR
#
# A list line is "NAME TEXT...": NAME is the prompt's path without .wav
# (letters, digits, "-_+" and "/" between parts), TEXT what is spoken.
# "@voice V" and "@speed WPM" lines set the espeak-ng voice and speed; "#"
# starts a comment line. OUTDIR is replaced as a whole, only once everything
# has been generated. The build runs this whenever a list changes.
set -eu -o pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "generate.sh: ${missing[*]} not found: the prompts are made with espeak-ng and sox" >&2
	echo "generate.sh: install them with: apt-get install ${missing[*]}" >&2
	echo "generate.sh: (contrib/deps.sh run installs everything the build needs)" >&2
	exit 1
fi

tmp="$out.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# The sox output options of every prompt: 8 kHz, 16-bit signed, mono, no dither.
sox_out=(-D -r 8000 -b 16 -c 1 -e signed-integer -t wav)

# gen_language LIST: the prompts of one list into $tmp/<language>/.
gen_language()
{
	local list=$1 lang voice speed line name text n=0 lineno=0 dst raw
	lang=$(basename "$list" .txt)
	voice=$lang
	speed=150
	mkdir -p "$tmp/$lang"
	raw="$tmp/.raw-$lang.wav"
	declare -A seen=()
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		line=${line%$'\r'}
		case "$line" in
		'' | '#'*) continue ;;
		'@voice '*) voice=${line#@voice }; continue ;;
		'@speed '*) speed=${line#@speed }; continue ;;
		'@'*)
			echo "generate.sh: $list:$lineno: unknown directive: $line" >&2
			return 1
			;;
		esac
		name=${line%%[[:space:]]*}
		text=${line#"$name"}
		text=${text#"${text%%[![:space:]]*}"}
		if [ -z "$text" ]; then
			echo "generate.sh: $list:$lineno: prompt \"$name\" has no text" >&2
			return 1
		fi
		if ! [[ "$name" =~ ^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$ ]]; then
			echo "generate.sh: $list:$lineno: invalid prompt name \"$name\"" >&2
			return 1
		fi
		if [ -n "${seen[$name]+set}" ]; then
			echo "generate.sh: $list:$lineno: prompt \"$name\" is also on line" \
				"${seen[$name]}" >&2
			return 1
		fi
		seen[$name]=$lineno
		dst="$tmp/$lang/$name.wav"
		mkdir -p "$(dirname "$dst")"
		if ! printf '%s\n' "$text" |
			espeak-ng -v "$voice" -s "$speed" -w "$raw" 2>"$raw.err"; then
			echo "generate.sh: $list:$lineno: espeak-ng failed (voice $voice):" >&2
			cat "$raw.err" >&2
			return 1
		fi
		# A touch of silence around the words, and a common level.
		sox "$raw" "${sox_out[@]}" "$dst" gain -n -3 pad 0.05 0.1 rate
		n=$((n + 1))
	done <"$list"
	sox -n -r 8000 -c 1 "${sox_out[@]}" "$tmp/$lang/beep.wav" \
		synth 0.25 sine 1000 fade q 0.01 0.25 0.01 gain -6
	mkdir -p "$tmp/$lang/silence"
	sox -n -r 8000 -c 1 "${sox_out[@]}" "$tmp/$lang/silence/1.wav" trim 0 1
	rm -f "$raw" "$raw.err"
	echo "generate.sh: $lang: $n prompts (voice $voice)"
}

# Music on hold: plucked chords (a bass note and a triad) over two
# progressions, in C major. Synthesized, so free of any copyright.
gen_moh()
{
	local dir="$tmp/moh/default" i=0 chord parts=()
	mkdir -p "$dir"
	# Frequencies in Hz: bass, then the triad.
	local progression=(
		"130.81 261.63 329.63 392.00"   # C
		"110.00 261.63 329.63 440.00"   # Am
		"87.31 261.63 349.23 440.00"    # F
		"98.00 246.94 293.66 392.00"    # G
		"130.81 261.63 329.63 392.00"   # C
		"110.00 261.63 329.63 440.00"   # Am
		"146.83 293.66 349.23 440.00"   # Dm
		"98.00 246.94 293.66 392.00"    # G
	)
	for chord in "${progression[@]}"; do
		local f
		read -ra f <<<"$chord"
		i=$((i + 1))
		# pluck needs 44.1 kHz; the four voices are mixed down to one.
		sox -r 44100 -c 4 -n -r 8000 -c 1 -b 16 -D "$dir/.chord$i.wav" \
			synth 1.6 pluck "${f[0]}" pluck "${f[1]}" pluck "${f[2]}" pluck "${f[3]}" \
			remix - fade q 0.01 1.6 0.5 rate
		parts+=("$dir/.chord$i.wav")
	done
	sox "${parts[@]}" "${sox_out[@]}" "$dir/chords.wav" gain -n -6
	# The same, slower and an octave lower, for a second track.
	sox "$dir/chords.wav" "${sox_out[@]}" "$dir/chords-low.wav" speed 0.5 rate gain -n -6
	rm -f "${parts[@]}"
	echo "generate.sh: moh/default: 2 tracks"
}

lists=("$here"/*.txt)
if [ ! -e "${lists[0]}" ]; then
	echo "generate.sh: no prompt lists (*.txt) in $here" >&2
	exit 1
fi

# One job per language (and one for the music): they run side by side.
pids=()
for list in "${lists[@]}"; do
	gen_language "$list" &
	pids+=($!)
done
gen_moh &
pids+=($!)
status=0
for pid in "${pids[@]}"; do
	wait "$pid" || status=1
done
if [ "$status" -ne 0 ]; then
	echo "generate.sh: failed; $out is left as it was" >&2
	exit 1
fi

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
