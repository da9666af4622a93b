//! The failover's DNS step: repoint the MP's name to the standby's front
//! address, and watch the authoritative server until it answers the new one.
//!
//! Three backends: an RFC 2136 dynamic update signed with TSIG (sent to the
//! zone's authoritative server), the user's own command, or a person making the
//! change by hand. Messages, TSIG and transport are hickory's; this module only
//! decides what to ask and how to explain the answer.
//!
//! Exit codes: a server that refused (wrong key, not authoritative, policy) or a
//! command that failed is `Error::failed` (1); a server that did not answer in
//! time or could not be reached is `Error::cluster` (3), like an unreachable
//! cluster; bad flags or an unreadable key file are `Error::usage` (2).

use std::fmt;
use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::StreamExt;
use hickory_net::NetError;
use hickory_net::proto::op::{
    DnsRequest, DnsRequestOptions, Edns, Message, OpCode, Query, ResponseCode, UpdateMessage,
};
use hickory_net::proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_net::proto::rr::rdata::{A, AAAA};
use hickory_net::proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::DnsRequestSender;

use crate::error::{Error, Result};
use crate::ui::output::Ui;

/// How long one exchange with the DNS server may take, retries included.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// How far our clock may be from the server's for it to accept a signature
/// (RFC 8945 recommends 300 seconds).
const TSIG_FUDGE: u16 = 300;
/// How long the user's DNS command may run: enough for a cloud DNS API call.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(300);
/// Pause between two queries while waiting for the new address.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// Room for a few A/AAAA records without truncation on any path (RFC 9715's advice).
const EDNS_PAYLOAD: u16 = 1232;

/// Where the MP's name is changed.
#[derive(Debug, Clone)]
pub enum DnsBackend {
    /// RFC 2136 dynamic update, TSIG-signed, sent to the zone's authoritative server.
    Rfc2136 {
        server: SocketAddr,
        zone: String,
        tsig: TsigKey,
    },
    /// Run the user's command with the name and the address (as its last two
    /// arguments, and in MP_DNS_NAME / MP_DNS_ADDRESS / MP_DNS_TTL).
    Exec { command: String },
    /// Print the record to change and wait for the user to confirm (never with `--yes`).
    Manual,
}

/// A TSIG key as BIND writes it. The secret is never shown: `Debug` prints its size.
#[derive(Clone)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    secret: Vec<u8>,
}

/// One address record: the MP's name and where it should point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub name: String,
    pub address: IpAddr,
    pub ttl: u32,
}

/// The DNS record type that holds `address`: `A` for IPv4, `AAAA` for IPv6.
pub fn record_type(address: IpAddr) -> &'static str {
    if address.is_ipv4() { "A" } else { "AAAA" }
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &format_args!("<{} bytes>", self.secret.len()))
            .finish()
    }
}

impl TsigKey {
    /// The algorithm BIND's `tsig-keygen` uses, and ours when a key file names none.
    pub const DEFAULT_ALGORITHM: &str = "hmac-sha256";

    /// A key from its parts; `algorithm` is one hickory can sign with
    /// (hmac-sha256, hmac-sha384, hmac-sha512).
    pub fn new(name: &str, algorithm: &str, secret: Vec<u8>) -> Result<TsigKey> {
        let key = TsigKey {
            name: name.trim_end_matches('.').to_string(),
            algorithm: algorithm.to_ascii_lowercase(),
            secret,
        };
        if key.secret.is_empty() {
            return Err(Error::usage(format!(
                "TSIG key {}: the secret is empty",
                key.name
            )));
        }
        key.signer()?;
        Ok(key)
    }

    /// Reads a BIND key file (`tsig-keygen` output):
    /// `key "name" { algorithm hmac-sha256; secret "base64"; };`
    pub fn from_file(path: &Path) -> Result<TsigKey> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Error::usage(format!(
                "cannot read TSIG key file {}: {error}",
                path.display()
            ))
            .with_next_step("check --tsig-key-file")
        })?;
        parse_key_file(&text).map_err(|problem| {
            Error::usage(format!("TSIG key file {}: {problem}", path.display())).with_next_step(
                "pass a BIND key file such as `tsig-keygen` writes: key \"NAME\" { algorithm hmac-sha256; secret \"BASE64\"; };",
            )
        })
    }

    fn signer(&self) -> Result<TSigner> {
        let invalid = |problem: String| {
            Error::usage(format!("TSIG key {}: {problem}", self.name))
                .with_next_step("use an hmac-sha256, hmac-sha384 or hmac-sha512 key")
        };
        let name = fqdn(&self.name).map_err(|error| invalid(format!("bad key name: {error}")))?;
        let algorithm = match self.algorithm.trim_end_matches('.') {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha384" => TsigAlgorithm::HmacSha384,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => return Err(invalid(format!("algorithm {other} is not supported"))),
        };
        TSigner::new(self.secret.clone(), algorithm, name, TSIG_FUDGE)
            .map_err(|error| invalid(error.to_string()))
    }
}

/// The BIND key file grammar, as much as key files use: one `key` clause with
/// `algorithm` and `secret`, comments in `#`, `//` and `/* */`.
fn parse_key_file(text: &str) -> std::result::Result<TsigKey, String> {
    let tokens = tokenize(text)?;
    let mut tokens = tokens.iter().map(String::as_str);
    let mut keys = Vec::new();
    while let Some(token) = tokens.next() {
        if token != "key" {
            return Err(format!("expected `key`, found `{token}`"));
        }
        let name = tokens.next().ok_or("the key has no name")?;
        expect(&mut tokens, "{")?;
        let (mut algorithm, mut secret) = (None, None);
        loop {
            match tokens.next() {
                Some("}") => break,
                Some("algorithm") => algorithm = Some(statement_value(&mut tokens, "algorithm")?),
                Some("secret") => secret = Some(statement_value(&mut tokens, "secret")?),
                Some(other) => return Err(format!("unexpected `{other}` in key {name}")),
                None => return Err(format!("key {name} is not closed with `}};`")),
            }
        }
        expect(&mut tokens, ";")?;
        let secret = secret.ok_or_else(|| format!("key {name} has no secret"))?;
        let secret = BASE64
            .decode(secret)
            .map_err(|_| format!("the secret of key {name} is not valid base64"))?;
        let algorithm = algorithm.unwrap_or(TsigKey::DEFAULT_ALGORITHM);
        keys.push(
            TsigKey::new(name, algorithm, secret).map_err(|error| error.message().to_string())?,
        );
    }
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => Err("no `key` clause found".to_string()),
        count => Err(format!(
            "{count} keys found; the file must hold exactly one"
        )),
    }
}

fn expect<'a>(
    tokens: &mut impl Iterator<Item = &'a str>,
    wanted: &str,
) -> std::result::Result<(), String> {
    match tokens.next() {
        Some(token) if token == wanted => Ok(()),
        Some(token) => Err(format!("expected `{wanted}`, found `{token}`")),
        None => Err(format!("expected `{wanted}` at the end")),
    }
}

fn statement_value<'a>(
    tokens: &mut impl Iterator<Item = &'a str>,
    statement: &str,
) -> std::result::Result<&'a str, String> {
    let value = tokens
        .next()
        .ok_or_else(|| format!("`{statement}` has no value"))?;
    expect(tokens, ";")?;
    Ok(value)
}

/// Words, quoted strings (without their quotes) and the punctuation `{ } ;`.
fn tokenize(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(char) = chars.next() {
        match char {
            _ if char.is_whitespace() => {}
            '#' => skip_line(&mut chars),
            '/' if chars.peek() == Some(&'/') => skip_line(&mut chars),
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                loop {
                    match chars.next() {
                        Some('/') if previous == '*' => break,
                        Some(next) => previous = next,
                        None => return Err("a /* comment is not closed".to_string()),
                    }
                }
            }
            '{' | '}' | ';' => tokens.push(char.to_string()),
            '"' => {
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(next) => quoted.push(next),
                        None => return Err("a quoted string is not closed".to_string()),
                    }
                }
                tokens.push(quoted);
            }
            _ => {
                let mut word = char.to_string();
                while let Some(&next) = chars.peek() {
                    if next.is_whitespace() || matches!(next, '{' | '}' | ';' | '"') {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push(word);
            }
        }
    }
    Ok(tokens)
}

fn skip_line(chars: &mut impl Iterator<Item = char>) {
    for char in chars.by_ref() {
        if char == '\n' {
            break;
        }
    }
}

/// `name` as a fully qualified DNS name (a trailing dot is optional on input).
fn fqdn(name: &str) -> std::result::Result<Name, String> {
    let mut parsed = Name::from_ascii(name).map_err(|error| error.to_string())?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

fn dns_name(name: &str, what: &str) -> Result<Name> {
    fqdn(name)
        .map_err(|error| Error::usage(format!("{what} {name:?} is not a valid DNS name: {error}")))
}

/// Without the trailing dot, as people write names.
fn display_name(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_string()
}

/// Why an exchange gave no usable answer.
enum ExchangeError {
    /// No answer in time, or the network refused: the server may be down.
    Unreachable(String),
    /// The server answered, but the answer is unusable (unparsable, or its
    /// TSIG signature did not verify).
    Invalid(String),
}

impl ExchangeError {
    fn into_error(self, server: SocketAddr, action: &str) -> Error {
        match self {
            ExchangeError::Unreachable(cause) => Error::cluster(format!(
                "DNS server {server} did not answer while trying to {action}: {cause}"
            ))
            .with_next_step("check the server is up and reachable on that address and port"),
            ExchangeError::Invalid(cause) => Error::failed(format!(
                "DNS server {server} gave an unusable answer while trying to {action}: {cause}"
            )),
        }
    }
}

/// Sends one message over UDP, signing it when `signer` is given and verifying
/// the answer's signature. hickory resends within `EXCHANGE_TIMEOUT` when no
/// answer comes; our updates are idempotent (delete RRsets, add one record), so
/// a resent update that the server applies twice changes nothing more.
async fn exchange(
    server: SocketAddr,
    mut message: Message,
    signer: Option<&TSigner>,
) -> std::result::Result<Message, ExchangeError> {
    let verifier = match signer {
        Some(signer) => message
            .finalize(signer, unix_now())
            .map_err(|error| ExchangeError::Invalid(format!("cannot sign the request: {error}")))?,
        None => None,
    };
    let mut options = DnsRequestOptions::default();
    options.recursion_desired = false;
    let mut stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(EXCHANGE_TIMEOUT))
        .build();
    let mut responses = stream.send_message(DnsRequest::new(message, options));
    let response = match responses.next().await {
        Some(Ok(response)) => response,
        Some(Err(error @ (NetError::Io(_) | NetError::Timeout | NetError::NoConnections))) => {
            return Err(ExchangeError::Unreachable(error.to_string()));
        }
        Some(Err(error)) => return Err(ExchangeError::Invalid(error.to_string())),
        None => {
            return Err(ExchangeError::Unreachable(format!(
                "no answer within {}s",
                EXCHANGE_TIMEOUT.as_secs()
            )));
        }
    };
    let (answer, bytes) = response.into_parts();
    if answer.metadata.truncation {
        // Only a name with dozens of addresses overflows EDNS_PAYLOAD; an MP name has one.
        return Err(ExchangeError::Invalid(
            "the answer was truncated (too many records for one UDP answer)".to_string(),
        ));
    }
    // Error answers may come unsigned (a TSIG error such as BADSIG, or a server
    // that does not know the key): the caller explains them and nothing changed.
    // Only a success must carry a valid signature.
    let unsigned_error = answer.metadata.response_code != ResponseCode::NoError
        && answer
            .signature()
            .is_none_or(|tsig| tsig.data.error.is_some());
    if let (Some(mut verifier), false) = (verifier, unsigned_error) {
        verifier.verify(&bytes).map_err(|error| {
            ExchangeError::Invalid(format!(
                "the answer's TSIG signature does not verify: {error}"
            ))
        })?;
    }
    Ok(answer)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

fn query_message(name: Name, record_type: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(name, record_type));
    message
        .edns
        .get_or_insert_with(Edns::new)
        .set_max_payload(EDNS_PAYLOAD)
        .set_version(0);
    message
}

/// Read-only preflight: the server answers for `zone` authoritatively (its SOA,
/// with the AA bit).
pub async fn check_authoritative(server: SocketAddr, zone: &str) -> Result<()> {
    let zone_name = dns_name(zone, "DNS zone")?;
    let zone = display_name(&zone_name);
    let action = format!("query the SOA of zone {zone}");
    let answer = exchange(
        server,
        query_message(zone_name.clone(), RecordType::SOA),
        None,
    )
    .await
    .map_err(|error| error.into_error(server, &action))?;
    let not_authoritative = |why: String| {
        Error::failed(format!(
            "DNS server {server} is not authoritative for zone {zone}: {why}"
        ))
        .with_next_step("point --dns-server at the zone's primary server and check --dns-zone")
    };
    match answer.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::Refused => {
            return Err(not_authoritative(
                "it refused the query (REFUSED)".to_string(),
            ));
        }
        ResponseCode::NXDomain => {
            return Err(not_authoritative(
                "the zone does not exist there (NXDOMAIN)".to_string(),
            ));
        }
        code => return Err(not_authoritative(format!("it answered {code}"))),
    }
    if !answer.metadata.authoritative {
        return Err(not_authoritative(
            "its answer lacks the AA bit (a cache or forwarder?)".to_string(),
        ));
    }
    let has_soa = answer
        .answers
        .iter()
        .any(|record| record.record_type() == RecordType::SOA && record.name == zone_name);
    if !has_soa {
        let apex = answer
            .authorities
            .iter()
            .find(|record| record.record_type() == RecordType::SOA)
            .map(|record| display_name(&record.name));
        return Err(not_authoritative(match apex {
            Some(apex) => format!("{zone} is not a zone apex there; the enclosing zone is {apex}"),
            None => "its answer has no SOA for the zone".to_string(),
        }));
    }
    Ok(())
}

/// What the authoritative server answers now for `name` (A and AAAA): the
/// addresses, sorted, and the smallest TTL. `None` when the name has no address.
pub async fn lookup(server: SocketAddr, name: &str) -> Result<Option<(Vec<IpAddr>, u32)>> {
    let fq_name = dns_name(name, "DNS name")?;
    let mut addresses = Vec::new();
    let mut ttl: Option<u32> = None;
    for record_type in [RecordType::A, RecordType::AAAA] {
        let action = format!("look up {record_type} of {}", display_name(&fq_name));
        let answer = exchange(server, query_message(fq_name.clone(), record_type), None)
            .await
            .map_err(|error| error.into_error(server, &action))?;
        match answer.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain if answer.metadata.authoritative => return Ok(None),
            code => {
                return Err(Error::failed(format!(
                    "DNS server {server} answered {code} to the {record_type} query for {}",
                    display_name(&fq_name)
                ))
                .with_next_step("check --dns-server is the zone's authoritative server"));
            }
        }
        if !answer.metadata.authoritative {
            return Err(Error::failed(format!(
                "DNS server {server} is not authoritative for {} (answer without the AA bit)",
                display_name(&fq_name)
            ))
            .with_next_step("point --dns-server at the zone's primary server"));
        }
        for record in answer
            .answers
            .iter()
            .filter(|record| record.name == fq_name)
        {
            let address = match &record.data {
                RData::A(A(address)) => IpAddr::V4(*address),
                RData::AAAA(AAAA(address)) => IpAddr::V6(*address),
                RData::CNAME(target) => {
                    return Err(Error::failed(format!(
                        "{} is an alias (CNAME) of {}: an address record cannot be set on it",
                        display_name(&fq_name),
                        target.0.to_ascii().trim_end_matches('.')
                    ))
                    .with_next_step(
                        "repoint the alias's target, or replace the CNAME with an A record",
                    ));
                }
                _ => continue,
            };
            addresses.push(address);
            ttl = Some(ttl.map_or(record.ttl, |seen| seen.min(record.ttl)));
        }
    }
    addresses.sort();
    addresses.dedup();
    Ok(ttl.map(|ttl| (addresses, ttl)))
}

/// Repoints `record.name` to `record.address`. With RFC 2136 this is one
/// atomic update that deletes the name's A and AAAA RRsets and adds the new
/// record, so no client is sent to the old MP over the other address family.
pub async fn update(backend: &DnsBackend, record: &DnsRecord, ui: &Ui, yes: bool) -> Result<()> {
    match backend {
        DnsBackend::Rfc2136 { server, zone, tsig } => {
            update_rfc2136(*server, zone, tsig, record).await
        }
        DnsBackend::Exec { command } => run_command(command, record, ui).await,
        DnsBackend::Manual => confirm_manual_change(record, ui, yes),
    }
}

/// Checks before any change: the RFC 2136 server is authoritative for the
/// zone, the name lies inside it, and the server accepts our signed update
/// of the name (a no-op, see [`check_update_accepted`]; `current`: the
/// name's addresses now, as [`lookup`] answered); a manual change can be
/// confirmed.
pub async fn preflight(
    backend: &DnsBackend,
    name: &str,
    current: &[IpAddr],
    yes: bool,
) -> Result<()> {
    match backend {
        DnsBackend::Rfc2136 { server, zone, tsig } => {
            tsig.signer()?;
            name_in_zone(name, zone)?;
            check_authoritative(*server, zone).await?;
            check_update_accepted(*server, zone, tsig, name, current).await
        }
        DnsBackend::Exec { command } if command.trim().is_empty() => {
            Err(Error::usage("the DNS command is empty")
                .with_next_step("pass the command with --dns-exec"))
        }
        DnsBackend::Exec { .. } => Ok(()),
        DnsBackend::Manual => manual_confirmable(name, yes, on_terminal()),
    }
}

fn name_in_zone(name: &str, zone: &str) -> Result<(Name, Name)> {
    let name = dns_name(name, "DNS name")?;
    let zone = dns_name(zone, "DNS zone")?;
    if !zone.zone_of(&name) {
        return Err(Error::usage(format!(
            "DNS name {} is not inside zone {}",
            display_name(&name),
            display_name(&zone)
        ))
        .with_next_step("check --dns-name and --dns-zone"));
    }
    Ok((name, zone))
}

/// An empty RFC 2136 update of `zone`.
fn update_of(zone: &Name) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Update;
    message.metadata.recursion_desired = false;
    let mut zone_section = Query::new();
    zone_section
        .set_name(zone.clone())
        .set_query_class(DNSClass::IN)
        .set_query_type(RecordType::SOA);
    message.add_zone(zone_section);
    message
}

fn update_message(name: &Name, zone: &Name, record: &DnsRecord) -> Message {
    let mut message = update_of(zone);
    // RFC 2136 2.5.2: class ANY, TTL 0 and empty RDATA delete a whole RRset.
    for record_type in [RecordType::A, RecordType::AAAA] {
        let mut delete = Record::update0(name.clone(), 0, record_type).into_record_of_rdata();
        delete.dns_class = DNSClass::ANY;
        message.add_update(delete);
    }
    let data = match record.address {
        IpAddr::V4(address) => RData::A(A(address)),
        IpAddr::V6(address) => RData::AAAA(AAAA(address)),
    };
    message.add_update(Record::from_rdata(name.clone(), record.ttl, data));
    message
}

async fn update_rfc2136(
    server: SocketAddr,
    zone: &str,
    tsig: &TsigKey,
    record: &DnsRecord,
) -> Result<()> {
    let (name, zone_name) = name_in_zone(&record.name, zone)?;
    let signer = tsig.signer()?;
    let shown = display_name(&name);
    let zone = display_name(&zone_name);
    let answer = exchange(
        server,
        update_message(&name, &zone_name, record),
        Some(&signer),
    )
    .await
    .map_err(|error| error.into_error(server, &format!("update {shown}")))?;
    let refused = format!("DNS update of {shown} refused by {server}");
    update_outcome(&answer, tsig, &refused, &shown, &zone)
}

/// Proves, changing nothing, that the server will accept the failover's
/// update of `name`: it is sent a TSIG-signed update of the same name and
/// record types (A and AAAA) whose only changes delete records that do not
/// exist (RFC 2136 2.5.4: class NONE), so the server checks the signature,
/// its key and the zone's update policy for this name and type, and then
/// has nothing to do.
///
/// # Errors
/// As the update itself would fail: BADSIG (wrong secret), BADKEY (unknown
/// key or algorithm), BADTIME, NOTAUTH, REFUSED (the policy does not allow
/// the key to update the name), NOTZONE; exit 3 if the server does not answer.
pub async fn check_update_accepted(
    server: SocketAddr,
    zone: &str,
    tsig: &TsigKey,
    name: &str,
    current: &[IpAddr],
) -> Result<()> {
    let (name, zone_name) = name_in_zone(name, zone)?;
    let signer = tsig.signer()?;
    let shown = display_name(&name);
    let zone = display_name(&zone_name);
    let answer = exchange(
        server,
        no_op_update_message(&name, &zone_name, current),
        Some(&signer),
    )
    .await
    .map_err(|error| error.into_error(server, &format!("test an update of {shown}")))?;
    let refused = format!("the DNS update of {shown} would be refused by {server}");
    update_outcome(&answer, tsig, &refused, &shown, &zone)
}

/// An update of `name`'s A and AAAA records that changes nothing: it deletes
/// one documentation address of each family (RFC 5737, RFC 3849) that the
/// name does not hold (`current`).
fn no_op_update_message(name: &Name, zone: &Name, current: &[IpAddr]) -> Message {
    let absent = |candidates: Vec<IpAddr>| {
        let first = candidates[0];
        candidates
            .into_iter()
            .find(|address| !current.contains(address))
            .unwrap_or(first)
    };
    let v4 = absent(
        (1..=254)
            .map(|last| IpAddr::from([192, 0, 2, last]))
            .collect(),
    );
    let v6 = absent(
        (1..=254u16)
            .map(|last| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, last]))
            .collect(),
    );
    let mut message = update_of(zone);
    for address in [v4, v6] {
        let data = match address {
            IpAddr::V4(address) => RData::A(A(address)),
            IpAddr::V6(address) => RData::AAAA(AAAA(address)),
        };
        // RFC 2136 2.5.4: class NONE and TTL 0 delete this one RR, if present.
        let mut delete = Record::from_rdata(name.clone(), 0, data);
        delete.dns_class = DNSClass::NONE;
        message.add_update(delete);
    }
    message
}

/// What the server's answer to a signed update means: accepted, or refused
/// (`refused` starts the line) for a named reason: TSIG not accepted
/// (BADSIG, BADKEY, BADTIME), not authoritative, not allowed by the zone's
/// update policy (REFUSED), or a name outside the zone.
fn update_outcome(
    answer: &Message,
    tsig: &TsigKey,
    refused: &str,
    shown: &str,
    zone: &str,
) -> Result<()> {
    if let Some(tsig_error) = answer.signature().and_then(|tsig| tsig.data.error) {
        let reason = match tsig_error {
            TsigError::BadSig => "BADSIG".to_string(),
            TsigError::BadKey => "BADKEY".to_string(),
            TsigError::BadTime => {
                return Err(Error::failed(format!(
                    "{refused}: the signature's time is outside the server's window (BADTIME)"
                ))
                .with_next_step("synchronise this machine's clock with the DNS server's"));
            }
            other => format!("{other:?}").to_ascii_uppercase(),
        };
        return Err(Error::failed(format!(
            "{refused}: TSIG key {} was not accepted ({reason})",
            tsig.name
        ))
        .with_next_step("check --tsig-key-file"));
    }
    match answer.metadata.response_code {
        ResponseCode::NoError => Ok(()),
        ResponseCode::NotAuth => Err(Error::failed(format!(
            "{refused}: it is not authoritative for zone {zone}, or did not accept TSIG key {} (NOTAUTH)",
            tsig.name
        ))
        .with_next_step("point --dns-server at the zone's primary server")),
        ResponseCode::Refused => Err(Error::failed(format!(
            "{refused} (REFUSED): key {} may not update {shown} in zone {zone}",
            tsig.name
        ))
        .with_next_step(
            "allow the key in the zone's update-policy (or allow-update), or check --dns-zone",
        )),
        ResponseCode::NotZone => Err(Error::failed(format!(
            "{refused}: {shown} is not in zone {zone} (NOTZONE)"
        ))
        .with_next_step("check --dns-name and --dns-zone")),
        code => Err(Error::failed(format!("{refused}: it answered {code}"))),
    }
}

/// Runs `command` through `sh -c`, with the name and address appended as its
/// arguments and also in the environment, bounded by `EXEC_TIMEOUT`.
async fn run_command(command: &str, record: &DnsRecord, ui: &Ui) -> Result<()> {
    let address = record.address.to_string();
    let shown = format!("`{command}` for {} -> {address}", record.name);
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} \"$@\""))
        .arg("kubectl-mp-dns")
        .arg(&record.name)
        .arg(&address)
        .env("MP_DNS_NAME", &record.name)
        .env("MP_DNS_ADDRESS", &address)
        .env("MP_DNS_TTL", record.ttl.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| Error::failed(format!("cannot start the DNS command {shown}: {error}")))?;
    let output = tokio::time::timeout(EXEC_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| {
            Error::failed(format!(
                "the DNS command {shown} did not finish within {}s and was stopped",
                EXEC_TIMEOUT.as_secs()
            ))
            .with_next_step("check what the command waits for, then re-run with --resume")
        })?
        .map_err(|error| {
            Error::failed(format!("the DNS command {shown} could not run: {error}"))
        })?;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        ui.detail(&format!("dns command: {line}"));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines() {
        ui.detail(&format!("dns command: {line}"));
    }
    if output.status.success() {
        return Ok(());
    }
    let last_line = stderr.lines().rev().find(|line| !line.trim().is_empty());
    let status = match output.status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    Err(Error::failed(format!(
        "the DNS command {shown} failed ({status}){}",
        last_line
            .map(|line| format!(": {}", line.trim()))
            .unwrap_or_default()
    ))
    .with_next_step("fix the command (or change the record by hand), then re-run with --resume"))
}

/// Whether a person can confirm the manual change: not with `--yes` (nobody
/// would have made it), and only on a terminal.
fn manual_confirmable(name: &str, yes: bool, terminal: bool) -> Result<()> {
    if yes {
        return Err(Error::usage(format!(
            "the manual DNS backend needs a person to confirm the change of {name}, and --yes cannot"
        ))
        .with_next_step("drop --yes, or use --dns-backend rfc2136 or exec"));
    }
    if !terminal {
        return Err(Error::usage(format!(
            "the manual DNS backend needs a terminal to confirm the change of {name}"
        ))
        .with_next_step("run on a terminal, or use --dns-backend rfc2136 or exec from scripts"));
    }
    Ok(())
}

fn on_terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn confirm_manual_change(record: &DnsRecord, ui: &Ui, yes: bool) -> Result<()> {
    manual_confirmable(&record.name, yes, on_terminal())?;
    let record_type = record_type(record.address);
    ui.info(&format!(
        "Change the DNS record by hand: {}. {} {record_type} {} (replace every A and AAAA record of the name)",
        record.name.trim_end_matches('.'),
        record.ttl,
        record.address
    ));
    if crate::ui::prompt::confirm("confirm the DNS record was changed", false)? {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "the DNS change of {} was not confirmed",
            record.name
        ))
        .with_next_step("change the record, then re-run with --resume"))
    }
}

/// Polls `server` until `name` answers exactly `address` (and no other
/// address), for at most `deadline`; returns the TTL it now answers with.
/// Resolvers that cached the old answer keep it for up to the *old* record's
/// TTL: take that from `lookup` before the update.
pub async fn wait_for(
    server: SocketAddr,
    name: &str,
    address: IpAddr,
    deadline: Duration,
) -> Result<u32> {
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        let last = match lookup(server, name).await {
            Ok(Some((addresses, ttl))) if addresses == [address] => return Ok(ttl),
            Ok(Some((addresses, _))) => Ok(addresses),
            Ok(None) => Ok(Vec::new()),
            Err(error) => Err(error),
        };
        if tokio::time::Instant::now() + POLL_INTERVAL > give_up {
            let waited = deadline.as_secs();
            return Err(match last {
                Ok(addresses) => {
                    let answer = if addresses.is_empty() {
                        "no address".to_string()
                    } else {
                        addresses
                            .iter()
                            .map(IpAddr::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    Error::failed(format!(
                        "DNS server {server} still answers {answer} for {name} after {waited}s, not {address}"
                    ))
                    .with_next_step("check the change reached the zone's primary, then re-run with --resume")
                }
                Err(error) => Error::new(
                    error.exit(),
                    format!(
                        "waiting {waited}s for {name} to answer {address}: {}",
                        error.message()
                    ),
                )
                .with_next_step(error.next_step().unwrap_or("re-run with --resume")),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_address_is_an_aaaa_record() {
        assert_eq!(record_type("10.0.0.1".parse().unwrap()), "A");
        assert_eq!(record_type("2001:db8::1".parse().unwrap()), "AAAA");
    }

    const TSIG_KEYGEN_OUTPUT: &str = "key \"mp-update\" {\n\talgorithm hmac-sha256;\n\tsecret \"AgZFG29C3/eggZ6cQsevie8jBA2JEpdJW65qtHlsxUY=\";\n};\n";

    #[test]
    fn key_files_as_tsig_keygen_writes_them_parse() {
        let key = parse_key_file(TSIG_KEYGEN_OUTPUT).unwrap();
        assert_eq!(key.name, "mp-update");
        assert_eq!(key.algorithm, "hmac-sha256");
        assert_eq!(key.secret.len(), 32);
    }

    #[test]
    fn key_files_with_comments_and_no_algorithm_default_to_hmac_sha256() {
        let text = "# made by hand\n/* the\n update key */ key update.mp.example. { // trailing\n secret \"c2VjcmV0\"; };";
        let key = parse_key_file(text).unwrap();
        assert_eq!(key.name, "update.mp.example");
        assert_eq!(key.algorithm, "hmac-sha256");
        assert_eq!(key.secret, b"secret");
    }

    #[test]
    fn broken_key_files_say_what_is_wrong() {
        for (text, problem) in [
            ("", "no `key` clause"),
            ("key \"k\" { algorithm hmac-sha256; };", "has no secret"),
            ("key \"k\" { secret \"not base64!\"; };", "not valid base64"),
            (
                "key \"k\" { algorithm hmac-md5; secret \"c2VjcmV0\"; };",
                "not supported",
            ),
            ("key \"k\" { secret \"c2VjcmV0\"; }", "expected `;`"),
            (
                &format!("{TSIG_KEYGEN_OUTPUT}{TSIG_KEYGEN_OUTPUT}"),
                "2 keys found",
            ),
            ("options { };", "expected `key`"),
        ] {
            let error = parse_key_file(text).unwrap_err();
            assert!(error.contains(problem), "{text:?}: {error}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = parse_key_file(TSIG_KEYGEN_OUTPUT).unwrap();
        let shown = format!(
            "{key:?} {:?}",
            DnsBackend::Rfc2136 {
                server: "127.0.0.1:53".parse().unwrap(),
                zone: "mp.example".into(),
                tsig: key.clone(),
            }
        );
        assert!(!shown.contains("AgZFG29C3"), "{shown}");
        assert!(!shown.contains(&format!("{:?}", key.secret)), "{shown}");
        assert!(shown.contains("<32 bytes>"), "{shown}");
    }

    #[test]
    fn names_outside_the_zone_are_refused_before_any_request() {
        let error = name_in_zone("tsb.other.example", "mp.example").unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(
            error.to_string().contains("not inside zone mp.example"),
            "{error}"
        );
        assert!(name_in_zone("TSB.mp.example.", "mp.example").is_ok());
    }

    #[test]
    fn the_update_replaces_both_address_rrsets_atomically() {
        let (name, zone) = name_in_zone("tsb.mp.example", "mp.example").unwrap();
        let record = DnsRecord {
            name: "tsb.mp.example".into(),
            address: "192.0.2.7".parse().unwrap(),
            ttl: 60,
        };
        let message = update_message(&name, &zone, &record);
        assert_eq!(message.metadata.op_code, OpCode::Update);
        assert_eq!(message.queries[0].name(), &zone);
        // The update section is the authority section of the wire message.
        let updates = &message.authorities;
        assert_eq!(updates.len(), 3);
        assert!(
            updates[..2]
                .iter()
                .all(|update| update.dns_class == DNSClass::ANY && update.ttl == 0)
        );
        assert_eq!(updates[2].data, RData::A(A("192.0.2.7".parse().unwrap())));
        assert_eq!(updates[2].ttl, 60);
    }

    #[tokio::test]
    async fn manual_needs_a_terminal_and_no_yes() {
        let record = DnsRecord {
            name: "tsb.mp.example".into(),
            address: "192.0.2.7".parse().unwrap(),
            ttl: 60,
        };
        let error = update(&DnsBackend::Manual, &record, &Ui::plain(false), true)
            .await
            .unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(error.to_string().contains("--yes cannot"), "{error}");
        assert!(manual_confirmable("tsb.mp.example", true, true).is_err());
        let error = manual_confirmable("tsb.mp.example", false, false).unwrap_err();
        assert!(error.to_string().contains("needs a terminal"), "{error}");
        assert!(!error.to_string().contains("pass --yes"), "{error}");
        assert!(manual_confirmable("tsb.mp.example", false, true).is_ok());
    }
}
