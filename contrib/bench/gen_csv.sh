#!/usr/bin/env bash
# gen_csv.sh - prints a SIPp injection file (-inf) for the benchmark users
# made by gen_users.sh: one line per user, field0 the extension, field1 its
# password, field2 SIPp's authentication keyword for that user (a scenario
# writes [field2] where a digest Authorization goes: SIPp expands keywords
# found in injected fields, not keywords nested in a keyword). Read in order
# (SEQUENTIAL), so each call or REGISTER takes the next user.
#
#   gen_csv.sh N FIRST
set -eu

if [ $# -lt 2 ] || ! [[ "$1" =~ ^[0-9]+$ ]] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
	echo "usage: gen_csv.sh N FIRST" >&2
	exit 2
fi
echo SEQUENTIAL
i=0
while [ "$i" -lt "$1" ]; do
	ext=$(($2 + i))
	printf '%s;Bench-%s-pw;[authentication username=%s password=Bench-%s-pw];\n' \
		"$ext" "$ext" "$ext" "$ext"
	i=$((i + 1))
done
