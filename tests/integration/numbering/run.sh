#!/usr/bin/env bash
# numbering: number normalization, call classes and ACL groups with the
# sample features.conf (Italy) and Test calls from the users of this test's
# users.conf. CheckACL lets an allowed national call go on and refuses an
# international call of a user whose group denies it (step log says why,
# cause CALL_REJECTED (21), ACL_DENIED, CDR user field when res_cdr_sqlite
# is loaded); 112 always goes through; NORMALIZE, FORMAT and CALLCLASS
# values show in the step log; NormalizeCaller; numbering show / show acl /
# test; reloads refused with file:line, the outside line prefix after a
# reload, octo -t, unload and load.
. "$(dirname "$0")/../lib.sh"

octo_config_dir "$OCTO_CASE_DIR/configs"
cp "$OCTO_SRC/configs/features.conf" "$OCTO_CONF/features.conf"
FEATURES="$OCTO_CONF/features.conf"
DB="$OCTO_STATE/data/cdr.db"

check "octo -t accepts the sample features.conf" "$OCTO_BIN" -t -C "$OCTO_CONF" \
	-M "$(octo_build_modules)"
octo_start || exit 1

# call PROCEDURE NUMBER CALLER: starts a Test call, prints its id.
call()
{
	octo_rx test call "$1" "$2" "$3" | sed -n 's/^id: *//p'
}

# no_debug NAME ID TEXT: "call debug ID" does not contain TEXT.
no_debug()
{
	if octo_rx call debug "$2" | grep -qF -- "$3"; then
		fail "$1" "call debug $2 contains \"$3\""
	else
		pass "$1"
	fi
}

line_of()
{
	grep -n "$1" "$FEATURES" | head -n 1 | cut -d: -f1
}
employees=$(line_of '^\[acl-employees\]')

# ---------------------------------------------------------------- documentation
check_rx "CheckACL is listed" "app_numbering" core show applications
check_rx "CheckACL documents CALL_REJECTED" "CALL_REJECTED (21)" core show application CheckACL
check_rx "CheckACL documents ACL_DENIED" "ACL_DENIED" core show application CheckACL
check_rx "NormalizeCaller is documented" "CALLER_ORIGINAL" core show application NormalizeCaller

# ---------------------------------------------------------------- allowed national call
id=$(call users 0612345678 101)
wait_end "national: ends" "$id"
check_rx "national: class in the step log" "CheckACL: 0612345678 is national" call debug "$id"
check_rx "national: allowed, and why" \
	"CheckACL: allowed for 101, ACL group employees (acl_group of user 101): national is in the allow list of [acl-employees] (features.conf:$employees)" \
	call debug "$id"
check_rx "national: NORMALIZE, FORMAT, CALLCLASS" \
	"NoOp(class national normalized +390612345678 e164 +390612345678 intl 00390612345678 national 0612345678)" \
	call debug "$id"
check_rx "national: the call went on" "Answer()" call debug "$id"
check_rx "national: normal hang-up" "NORMAL_CLEARING (16)" call debug "$id"
check_rx "national: CALLCLASS and ACL_RESULT" "CheckACL: CALLCLASS=national ACL_RESULT=allowed" \
	call debug "$id"
if wait_until 5 grep -q "numbering test: 101 calls 0612345678 class national" "$OCTO_LOG"; then
	pass "national: Log line in the daemon log"
else
	fail "national: Log line in the daemon log" "not in $OCTO_LOG"
fi

# A mobile number given with blanks and the country code.
id=$(call users +393331234567 101)
wait_end "mobile: ends" "$id"
check_rx "mobile: class" "NoOp(class mobile normalized +393331234567" call debug "$id"

# ---------------------------------------------------------------- denied international call
id=$(call users 00442079460000 101)
wait_end "international: ends" "$id"
check_rx "international: class and why" \
	"CheckACL: 00442079460000 is international (international prefix: +442079460000: the country code is not 39)" \
	call debug "$id"
check_rx "international: denied, and why" \
	"CheckACL: denied for 101, ACL group employees (acl_group of user 101): international is in the deny list of [acl-employees] (features.conf:$employees)" \
	call debug "$id"
check_rx "international: the announcement" \
	"CheckACL: the announcement call-notallowed is not played: Test channels carry no audio" \
	call debug "$id"
check_rx "international: cause 21" "hangup cause: CALL_REJECTED (21)" call debug "$id"
check_rx "international: ACL_DENIED and CDR_USERFIELD" \
	'CheckACL: CALLCLASS=international ACL_RESULT=denied ACL_DENIED=international CDR_USERFIELD="denied: international"' \
	call debug "$id"
no_debug "international: the dialplan stopped" "$id" "Answer()"

# The same number for the manager.
id=$(call users 00442079460000 100)
wait_end "manager: ends" "$id"
check_rx "manager: allowed" "CheckACL: allowed for 100, ACL group management" call debug "$id"
check_rx "manager: class" "NoOp(class international normalized +442079460000" call debug "$id"

# ---------------------------------------------------------------- emergency
for pair in 101:employees 103:ghost 104:lobby; do
	who=${pair%%:*}
	id=$(call users 112 "$who")
	wait_end "112 from $who: ends" "$id"
	check_rx "112 from $who: always allowed" "CheckACL: allowed for $who, ACL group ${pair#*:}" \
		call debug "$id"
	check_rx "112 from $who: emergency numbers are always allowed" \
		"emergency numbers are always allowed" call debug "$id"
	check_rx "112 from $who: class emergency" "NoOp(class emergency normalized 112" \
		call debug "$id"
done

# ---------------------------------------------------------------- default and unknown groups
id=$(call users 899123456 102)
wait_end "acl_default: ends" "$id"
check_rx "acl_default: the group of [general]" \
	"ACL group employees (acl_default of [general] (user 102 has no acl_group))" \
	call debug "$id"
check_rx "acl_default: premium denied" "premium is in the deny list" call debug "$id"
check_rx "acl_default: CDR_USERFIELD" 'CDR_USERFIELD="denied: premium"' call debug "$id"

id=$(call users 0612345678 103)
wait_end "undefined group: ends" "$id"
check_rx "undefined group: denied, and why" \
	'ACL group "ghost" is not defined in features.conf (no [acl-ghost]): only emergency numbers are allowed' \
	call debug "$id"
check_output "undefined group: warned at load" 'user 103 has acl_group "ghost" (users.conf)' \
	cat "$OCTO_LOG"

id=$(call users 0612345678 555)
wait_end "not a user: ends" "$id"
check_rx "not a user: acl_default" "(acl_default of [general] (caller 555 is not a user))" \
	call debug "$id"

# ---------------------------------------------------------------- ACL_GROUP, option c
id=$(call lobby 0612345678 100)
wait_end "ACL_GROUP: ends" "$id"
check_rx "ACL_GROUP: the variable wins over the user" \
	"CheckACL: denied for 100, ACL group lobby (variable ACL_GROUP): national is not in the allow list of [acl-lobby]" \
	call debug "$id"
no_debug "ACL_GROUP: q, no announcement" "$id" "announcement"
id=$(call lobby 101 100)
wait_end "ACL_GROUP internal: ends" "$id"
check_rx "ACL_GROUP internal: allowed" "NoOp(lobby allowed)" call debug "$id"

id=$(call goon 00442079460000 101)
wait_end "option c: ends" "$id"
check_rx "option c: the dialplan goes on" \
	"NoOp(result denied denied international class international)" call debug "$id"
check_rx "option c: said in the step log" "CheckACL: going on (option c)" call debug "$id"
id=$(call goon 0612345678 101)
wait_end "option c allowed: ends" "$id"
check_rx "option c allowed" "NoOp(result allowed denied  class national)" call debug "$id"

# ---------------------------------------------------------------- bad arguments
id=$(call badargs 1 101)
wait_end "bad option: ends" "$id"
check_rx "bad option: step" "CheckACL: unknown option 'z'" call debug "$id"
id=$(call badargs 2 101)
wait_end "NormalizeCaller(x): ends" "$id"
check_rx "NormalizeCaller(x): step" "NormalizeCaller: takes no arguments" call debug "$id"
id=$(call badargs 3 101)
wait_end "bad function arguments: ends" "$id"
check_rx "bad function arguments: FORMAT warns" "function FORMAT failed" call debug "$id"
check_rx "bad function arguments: values" "NoOp(bad format [] class [unknown])" \
	call debug "$id"

# ---------------------------------------------------------------- NormalizeCaller
id=$(call main 100 0612345678)
wait_end "NormalizeCaller: ends" "$id"
check_rx "NormalizeCaller: rewritten" "NormalizeCaller: 0612345678 -> +390612345678" \
	call debug "$id"
check_rx "NormalizeCaller: CALLER and CALLER_ORIGINAL" \
	"NoOp(caller +390612345678 was 0612345678)" call debug "$id"
id=$(call main 100 0039-333-1234567)
wait_end "NormalizeCaller international prefix: ends" "$id"
check_rx "NormalizeCaller international prefix" "NoOp(caller +393331234567 was 0039-333-1234567)" \
	call debug "$id"
id=$(call main 100 101)
wait_end "NormalizeCaller internal: ends" "$id"
check_rx "NormalizeCaller internal: kept" "NormalizeCaller: 101 kept as it is" call debug "$id"
id=$(call main 100 anonymous)
wait_end "NormalizeCaller anonymous: ends" "$id"
check_rx "NormalizeCaller anonymous: kept" "NoOp(caller anonymous was anonymous)" \
	call debug "$id"

# ---------------------------------------------------------------- CDR user field
if octo_rx module show like res_cdr_sqlite | grep -q "running"; then
	cdr_userfield()
	{
		[ "$(sqlite3 -batch -noheader "$DB" \
			"select count(*) from cdr where userfield = 'denied: international'" 2>/dev/null)" \
			-ge 1 ]
	}
	if ! command -v sqlite3 >/dev/null 2>&1; then
		echo "NOTE numbering: no sqlite3 command: the CDR user field is not read back"
	elif wait_until 10 cdr_userfield; then
		pass "CDR: user field of the refused call"
	else
		fail "CDR: user field of the refused call" \
			"$(sqlite3 -batch "$DB" 'select src, dst, userfield from cdr' 2>&1 | tail -n 5)"
	fi
else
	echo "NOTE numbering: res_cdr_sqlite is not loaded: the CDR user field is not checked"
fi

# ---------------------------------------------------------------- CLI
check_rx "show: country" "+39 (Italy, [classes-39] at features.conf:" numbering show
check_rx "show: national prefix (none)" "national prefix" numbering show
check_rx "show: mobile patterns" "3XXXXXXX." numbering show
check_rx "show: emergency numbers" "112, 113, 114, 115, 117, 118, 1515, 1530" numbering show
check_rx "show: other country codes" "any other country code" numbering show
check_rx "show: acl default" "employees" numbering show
check_rx "show acl: employees" "internal,national,mobile" numbering show acl
check_rx "show acl: emergency note" "emergency numbers are always allowed" numbering show acl
check_rx "test: normalized" "+442079460000" numbering test 00442079460000 101
check_rx "test: class" "international" numbering test 00442079460000 101
check_rx "test: verdict and why" \
	"denied: international is in the deny list of [acl-employees] (features.conf:$employees)" \
	numbering test 00442079460000 101
check_rx "test: group and its source" "employees (acl_group of user 101)" \
	numbering test 00442079460000 101
check_rx "test: manager allowed" "allowed: international is in the allow list of [acl-management]" \
	numbering test 00442079460000 100
check_rx "test: formats" "00390612345678" numbering test 0612345678
check_rx "test: without a user, acl_default" "acl_default of [general] (no user)" \
	numbering test 3331234567
check_rx "test: mobile class" "mobile" numbering test 3331234567
check_rx "test: an ACL group" "lobby (given)" numbering test 0612345678 acl-lobby
check_rx "test: emergency" "allowed: emergency numbers are always allowed" \
	numbering test 112 104
check_fails "test: unknown user" octo_rx numbering test 0612345678 999
check_fails "test: unknown group" octo_rx numbering test 0612345678 acl-nope
check_fails "test: not a number" octo_rx numbering test "$(printf 'a\tb')"
check_fails "test: usage" octo_rx numbering test
check_output "test: JSON" '"class":"international"' octo_rx_json numbering test 00442079460000 101

# ---------------------------------------------------------------- reload
cp "$FEATURES" "$OCTO_TMP/features.good"
sed -i 's/^deny = international, premium$/deny = international, premium, emergency/' "$FEATURES"
dline=$(line_of '^deny = international, premium, emergency$')
check_output "reload: a group denying emergency is warned" \
	"features.conf:$dline: [acl-employees] deny: emergency numbers are always allowed" \
	octo_rx module reload app_numbering
check_rx "reload: 112 still allowed" "allowed: emergency numbers are always allowed" \
	numbering test 112 101

cat >>"$FEATURES" <<'EOF'

[acl-broken]
allow = national, intl
deny = mobil
EOF
aline=$(line_of '^allow = national, intl$')
check_fails "reload: refused on errors" octo_rx module reload app_numbering
reload_out=$("$OCTO_BIN" -s "$OCTO_SOCK" -rx "module reload app_numbering" 2>&1)
for want in "features.conf:$aline: [acl-broken] allow: \"intl\" is not a call class" \
	"features.conf:$((aline + 1)): [acl-broken] deny: \"mobil\" is not a call class"; do
	if grep -qF -- "$want" <<<"$reload_out"; then
		pass "reload error: $want"
	else
		fail "reload error: $want" "$reload_out"
	fi
done
check_rx "reload refused: the running groups stay" "employees" numbering show acl
if octo_rx numbering show acl | grep -q broken; then
	fail "reload refused: no half-loaded group" "acl-broken is listed"
else
	pass "reload refused: no half-loaded group"
fi
check_fails "octo -t catches the broken group" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$OCTO_MODDIR"
check_output "octo -t names file:line" "features.conf:$aline: [acl-broken] allow:" \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_CONF' -M '$OCTO_MODDIR' 2>&1; true"

# An outside line prefix and a more generous employees group.
cp "$OCTO_TMP/features.good" "$FEATURES"
sed -i -e 's/^;outside_line_prefix = 0$/outside_line_prefix = 0/' \
	-e 's/^deny = international, premium$/deny = premium/' \
	-e 's/^allow = internal, national, mobile$/allow = internal, national, mobile, international/' \
	"$FEATURES"
check_rx "reload: accepted" "" module reload app_numbering
check_output "reload: outside line prefix shown" '"outside line prefix":"0"' \
	octo_rx_json numbering show
id=$(call users 000442079460000 101)
wait_end "after reload: ends" "$id"
check_rx "after reload: international allowed" "international is in the allow list" \
	call debug "$id"
check_rx "after reload: outside line removed" \
	"NoOp(class international normalized +442079460000 e164 +442079460000 intl 00442079460000" \
	call debug "$id"
id=$(call users 0112 104)
wait_end "0112: ends" "$id"
check_rx "0112: emergency through the outside line" "emergency numbers are always allowed" \
	call debug "$id"
id=$(call main 100 0612345678)
wait_end "received numbers keep their 0: ends" "$id"
check_rx "received numbers keep their 0" "NormalizeCaller: 0612345678 -> +390612345678" \
	call debug "$id"
cp "$OCTO_TMP/features.good" "$FEATURES"
check_rx "reload: back to the sample" "" module reload app_numbering
check "octo -t passes on the sample" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$OCTO_MODDIR"

# ---------------------------------------------------------------- unload and load
check_rx "no call left" "active calls: 0" calls show active
check_rx "unload" "" module unload app_numbering
check_fails "unloaded: no numbering CLI" octo_rx numbering show
check_rx "load again" "" module load app_numbering
check_rx "loaded again: works" "international" numbering test 00442079460000 101
id=$(call users 00442079460000 101)
wait_end "after load: ends" "$id"
check_rx "after load: denied" "hangup cause: CALL_REJECTED (21)" call debug "$id"
if octo_rx module show like app_numbering | grep -qE "^app_numbering .* 0 +running"; then
	pass "app_numbering: no use reference left"
else
	fail "app_numbering: no use reference left" "$(octo_rx module show like app_numbering)"
fi

octo_stop
