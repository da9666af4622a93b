#!/bin/sh
# mp-failover --dns-backend exec hook for Azure DNS (public zones).
#
#   export MP_AZURE_RESOURCE_GROUP=dns-rg   # the resource group of the zone
#   export MP_AZURE_ZONE=example.com        # the DNS zone holding --dns-name
#   kubectl mp-failover ... --dns-backend exec --dns-exec deploy/dns-hooks/azure-dns.sh \
#     --dns-name tsb.example.com --dns-server ns1-01.azure-dns.com
#
# Reads the record from the failover (README, "DNS backends: the exec
# contract"): MP_DNS_NAME, MP_DNS_TYPE (A, AAAA or CNAME), MP_DNS_TARGET,
# MP_DNS_TTL. Its arguments (NAME TARGET) repeat the first and third and are
# not used.
#
# Azure names a record set relative to its zone (`tsb` in example.com, `@`
# for the apex). First it lists the types the name holds (one call), then:
#   - A or AAAA: the new address is added to the set unless it is there
#     (add-record creates the set, with --ttl, when it is missing), then
#     every other address is removed from it (remove-record, keeping the
#     set), then the other family's set is deleted: the name never answers
#     nothing, and for a moment answers old and new;
#   - CNAME: the A and AAAA sets are deleted first (Azure refuses a CNAME
#     beside other records), then `cname set-record` makes the set's one
#     alias the target;
#   - a switch from CNAME to an address deletes the CNAME set first.
# Until the new record is in place after a deletion the name has no
# answer: a second or so. Running it again is harmless: the address is
# there already (nothing added), no other address or type is left.
# The TTL is set when the address is added; a re-run does not change it.
set -eu

me=azure-dns.sh

fail() {
    echo "$me: $*" >&2
    exit 2
}

# need VAR HINT: VAR must be set and not empty.
need() {
    eval "value=\${$1:-}"
    [ -n "$value" ] || fail "$1 is not set: $2"
}

need MP_AZURE_RESOURCE_GROUP "export the resource group of the DNS zone (az network dns zone list)"
need MP_AZURE_ZONE "export the DNS zone holding the name, e.g. example.com"
need MP_DNS_NAME "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TYPE "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TARGET "run this hook from kubectl mp-failover --dns-backend exec"
need MP_DNS_TTL "run this hook from kubectl mp-failover --dns-backend exec"

# The name goes into a --query expression: only what a DNS name can hold.
case "$MP_DNS_NAME" in
*[!A-Za-z0-9._-]*) fail "MP_DNS_NAME=$MP_DNS_NAME holds a character no DNS name has" ;;
esac

lower() {
    printf '%s' "$1" | tr '[:upper:]' '[:lower:]'
}
name=$(lower "${MP_DNS_NAME%.}")
zone=$(lower "${MP_AZURE_ZONE%.}")
case "$name" in
"$zone") relative=@ ;;
*".$zone") relative=${name%".$zone"} ;;
*) fail "$MP_DNS_NAME is not inside zone $MP_AZURE_ZONE: check MP_AZURE_ZONE" ;;
esac

# Every call names the record set: zone, resource group, relative name.
recordset() {
    type=$1
    verb=$2
    shift 2
    az network dns record-set "$type" "$verb" \
        --resource-group "$MP_AZURE_RESOURCE_GROUP" --zone-name "$MP_AZURE_ZONE" \
        --record-set-name "$relative" "$@"
}

# Types held, as the set's resource type's last part (".../dnszones/A").
held=$(az network dns record-set list \
    --resource-group "$MP_AZURE_RESOURCE_GROUP" --zone-name "$MP_AZURE_ZONE" \
    --query "[?name=='$relative'].type" --output tsv)
holds() {
    printf '%s\n' "$held" | grep -qi "/$1\$"
}

delete_if_held() {
    for held_type in "$@"; do
        if holds "$held_type"; then
            recordset "$(lower "$held_type")" delete --yes
        fi
    done
}

case "$MP_DNS_TYPE" in
A)
    family=a other=AAAA flag=--ipv4-address
    # The CLI has spelt the list ARecords and arecords.
    addresses='ARecords[].ipv4Address || arecords[].ipv4Address'
    ;;
AAAA)
    family=aaaa other=A flag=--ipv6-address
    addresses='AAAARecords[].ipv6Address || aaaaRecords[].ipv6Address'
    ;;
CNAME)
    delete_if_held A AAAA
    recordset cname set-record --cname "${MP_DNS_TARGET%.}" --ttl "$MP_DNS_TTL"
    echo "$me: $relative.$zone CNAME ${MP_DNS_TARGET%.}"
    exit 0
    ;;
*) fail "MP_DNS_TYPE=$MP_DNS_TYPE is not A, AAAA or CNAME" ;;
esac

delete_if_held CNAME
current=
if holds "$MP_DNS_TYPE"; then
    current=$(recordset "$family" show --query "$addresses" --output tsv)
fi
if ! printf '%s\n' "$current" | grep -qxF "$MP_DNS_TARGET"; then
    recordset "$family" add-record "$flag" "$MP_DNS_TARGET" --ttl "$MP_DNS_TTL"
fi
for address in $current; do
    if [ "$address" != "$MP_DNS_TARGET" ]; then
        recordset "$family" remove-record "$flag" "$address" --keep-empty-record-set
    fi
done
delete_if_held "$other"
echo "$me: $relative.$zone $MP_DNS_TYPE $MP_DNS_TARGET"
