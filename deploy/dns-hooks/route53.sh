#!/bin/sh
# mp-failover --dns-backend exec hook for Amazon Route 53.
#
#   export MP_ROUTE53_ZONE_ID=Z0123456789ABCDEFGHIJ   # the hosted zone of --dns-name
#   kubectl mp-failover ... --dns-backend exec --dns-exec deploy/dns-hooks/route53.sh \
#     --dns-name tsb.example.com --dns-server ns-123.awsdns-45.com
#
# Reads the record from the failover (README, "DNS backends: the exec
# contract"): MP_DNS_NAME, MP_DNS_TYPE (A, AAAA or CNAME), MP_DNS_TARGET,
# MP_DNS_TTL. Its arguments (NAME TARGET) repeat the first and third and are
# not used.
#
# One change batch, applied by Route 53 atomically: an UPSERT of the name's
# new record, plus a DELETE of each A, AAAA or CNAME record set the name
# holds of another type. Route 53 refuses a CNAME beside other records, and
# a client must not reach the old MP over the other address family, so a
# switch A <-> CNAME (or A -> AAAA) removes the old set in the same batch.
# DELETE must repeat a set exactly, so the sets are read first
# (list-resource-record-sets, filtered by the CLI's own --query: no jq).
# Running it again is harmless: the UPSERT rewrites the same record and
# nothing of another type is left to delete.
#
# It does not wait for the change to be INSYNC: the failover then asks
# --dns-server (one of the zone's Route 53 name servers) until it answers the
# new record, for up to --dns-timeout.
set -eu

me=route53.sh

fail() {
    echo "$me: $*" >&2
    exit 2
}

# need VAR HINT: VAR must be set and not empty.
need() {
    eval "value=\${$1:-}"
    [ -n "$value" ] || fail "$1 is not set: $2"
}

need MP_ROUTE53_ZONE_ID "export the ID of the hosted zone holding the name (aws route53 list-hosted-zones-by-name)"
need MP_DNS_NAME "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TYPE "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TARGET "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TTL "run this hook from kubectl mp-failover --dns-backend exec"

# The values go into JSON and a --query expression: accept only what a DNS
# name, an IP address or a TTL can hold, so no quote can break out.
case "$MP_DNS_NAME$MP_DNS_TARGET" in
*[!A-Za-z0-9.:_-]*) fail "MP_DNS_NAME or MP_DNS_TARGET holds a character no DNS name or address has" ;;
esac
case "$MP_DNS_TTL" in
'' | *[!0-9]*) fail "MP_DNS_TTL=$MP_DNS_TTL is not a number of seconds" ;;
esac

# Route 53 names are fully qualified, lowercase in its listings.
fqdn=$(printf '%s' "${MP_DNS_NAME%.}." | tr '[:upper:]' '[:lower:]')
case "$MP_DNS_TYPE" in
A | AAAA) value=$MP_DNS_TARGET ;;
CNAME) value="${MP_DNS_TARGET%.}." ;;
*) fail "MP_DNS_TYPE=$MP_DNS_TYPE is not A, AAAA or CNAME" ;;
esac

# The name's record sets of the other two types, each as a DELETE change:
# a JSON array, "[]" when there is none.
deletes=$(aws route53 list-resource-record-sets \
    --hosted-zone-id "$MP_ROUTE53_ZONE_ID" \
    --start-record-name "$fqdn" \
    --max-items 10 \
    --query "ResourceRecordSets[?Name=='$fqdn' && Type!='$MP_DNS_TYPE' && (Type=='A' || Type=='AAAA' || Type=='CNAME')].{Action:'DELETE',ResourceRecordSet:@}" \
    --output json)

upsert="{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{\"Name\":\"$fqdn\",\"Type\":\"$MP_DNS_TYPE\",\"TTL\":$MP_DNS_TTL,\"ResourceRecords\":[{\"Value\":\"$value\"}]}}"
case "$deletes" in
*'{'*) changes="${deletes%]},$upsert]" ;;
*) changes="[$upsert]" ;;
esac

change=$(aws route53 change-resource-record-sets \
    --hosted-zone-id "$MP_ROUTE53_ZONE_ID" \
    --change-batch "{\"Comment\":\"kubectl mp-failover: $fqdn $MP_DNS_TYPE $value\",\"Changes\":$changes}" \
    --query 'ChangeInfo.[Id,Status]' \
    --output text)
echo "$me: $fqdn $MP_DNS_TYPE $value: change $change"
