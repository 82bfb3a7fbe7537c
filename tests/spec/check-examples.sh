#!/bin/sh
# Checks the schemas and the examples in this directory with xmllint (Debian: libxml2-utils).
#  - every examples/*.xml must validate against subsonic-rest-api-1.16.1-opensubsonic.xsd;
#  - every examples/subsonic-*.xml (plain Subsonic content) must also validate against the unchanged
#    subsonic-rest-api-1.16.1.xsd once the three OpenSubsonic attributes of <subsonic-response> (type,
#    serverVersion, openSubsonic: required by the extended schema, unknown to 1.16.1) are removed;
#  - every examples/invalid/*.xml must be rejected by the extended schema.
set -u
cd "$(dirname "$0")"
ext=subsonic-rest-api-1.16.1-opensubsonic.xsd
orig=subsonic-rest-api-1.16.1.xsd
fail=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

for f in examples/*.xml; do
    if xmllint --noout --schema "$ext" "$f" 2>"$tmp"; then echo "ok    extended  $f"
    else echo "FAIL  extended  $f"; cat "$tmp"; fail=1; fi
done
for f in examples/subsonic-*.xml; do
    if sed -E '/<subsonic-response/ s/ (type|serverVersion|openSubsonic)="[^"]*"//g' "$f" |
        xmllint --noout --schema "$orig" - 2>"$tmp"; then echo "ok    1.16.1    $f"
    else echo "FAIL  1.16.1    $f"; cat "$tmp"; fail=1; fi
done
for f in examples/invalid/*.xml; do
    if xmllint --noout --schema "$ext" "$f" 2>"$tmp"; then echo "FAIL  accepted  $f"; fail=1
    else echo "ok    rejected  $f: $(grep -m1 -v 'fails to validate' "$tmp")"; fi
done
exit "$fail"
