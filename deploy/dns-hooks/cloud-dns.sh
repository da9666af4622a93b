#!/bin/sh
# mp-failover --dns-backend exec hook for Google Cloud DNS.
#
#   export MP_CLOUD_DNS_ZONE=example-com   # the managed zone of --dns-name (its name, not its DNS name)
#   export MP_CLOUD_DNS_PROJECT=my-project # optional: gcloud's default project otherwise
#   kubectl mp-failover ... --dns-backend exec --dns-exec deploy/dns-hooks/cloud-dns.sh \
#     --dns-name tsb.example.com --dns-server ns-cloud-a1.googledomains.com
#
# Reads the record from the failover (README, "DNS backends: the exec
# contract"): MP_DNS_NAME, MP_DNS_TYPE (A, AAAA or CNAME), MP_DNS_TARGET,
# MP_DNS_TTL. Its arguments (NAME TARGET) repeat the first and third and are
# not used.
#
# First it lists the types the name holds (one call), then:
#   - the new type held: `record-sets update` replaces its data and TTL;
#     not held: `record-sets create` (a first run, or a type switch);
#   - A and AAAA of the other family are deleted after the new record is in
#     place (no client may reach the old MP over the other family);
#   - a switch to or from CNAME must delete the old sets FIRST: Cloud DNS
#     refuses a CNAME beside other records. Until the new one is created the
#     name has no address: a second or so.
# Listing first, rather than reading update's "does not exist" error, tells
# a missing record from a denied or failed call without parsing messages.
# Running it again is harmless: the second run finds the new type held,
# updates it to the same data, and has nothing left to delete.
set -eu

me=cloud-dns.sh

fail() {
    echo "$me: $*" >&2
    exit 2
}

# need VAR HINT: VAR must be set and not empty.
need() {
    eval "value=\${$1:-}"
    [ -n "$value" ] || fail "$1 is not set: $2"
}

need MP_CLOUD_DNS_ZONE "export the name of the managed zone holding the name (gcloud dns managed-zones list)"
need MP_DNS_NAME "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TYPE "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TARGET "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TTL "run this hook from kubectl mp-failover --dns-backend exec"

fqdn="${MP_DNS_NAME%.}."
case "$MP_DNS_TYPE" in
A | AAAA) rrdata=$MP_DNS_TARGET ;;
CNAME) rrdata="${MP_DNS_TARGET%.}." ;;
*) fail "MP_DNS_TYPE=$MP_DNS_TYPE is not A, AAAA or CNAME" ;;
esac

# Every call names the zone (and the project, when given).
gdns() {
    if [ -n "${MP_CLOUD_DNS_PROJECT:-}" ]; then
        set -- "$@" --project="$MP_CLOUD_DNS_PROJECT"
    fi
    gcloud dns record-sets "$@" --zone="$MP_CLOUD_DNS_ZONE"
}

held=$(gdns list --name="$fqdn" --format='value(type)')
holds() {
    printf '%s\n' "$held" | grep -qx "$1"
}

delete_if_held() {
    for type in "$@"; do
        if [ "$type" != "$MP_DNS_TYPE" ] && holds "$type"; then
            gdns delete "$fqdn" --type="$type"
        fi
    done
}

# A CNAME cannot share the name with anything: clear the way first.
if [ "$MP_DNS_TYPE" = CNAME ]; then
    delete_if_held A AAAA
else
    delete_if_held CNAME
fi

if holds "$MP_DNS_TYPE"; then
    action=update
else
    action=create
fi
gdns "$action" "$fqdn" --type="$MP_DNS_TYPE" --ttl="$MP_DNS_TTL" --rrdatas="$rrdata"

# The other address family goes once the new record answers.
if [ "$MP_DNS_TYPE" != CNAME ]; then
    delete_if_held A AAAA
fi
echo "$me: $fqdn $MP_DNS_TYPE $rrdata ($action)"
