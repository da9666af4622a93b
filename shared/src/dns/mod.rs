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
use hickory_net::proto::rr::rdata::{A, AAAA, CNAME};
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

/// The port DNS servers listen on.
const DNS_PORT: u16 = 53;

/// `--dns-server`: the zone's authoritative server as `IP`, `IP:PORT`,
/// `[IPv6]:PORT`, `HOST` or `HOST:PORT` (port 53 when none is given). A
/// host name is resolved once, here, through this machine's resolver
/// (`/etc/hosts`, then its DNS servers), and its first address is used for
/// every update and query of the run.
///
/// # Errors
/// A message for clap (a usage error, exit 2): a malformed port, or a name
/// this machine cannot resolve.
pub fn parse_server(text: &str) -> std::result::Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, DNS_PORT));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>().map_err(|_| {
                format!("{text:?}: port {port:?} is not a number from 0 to 65535; use HOST, HOST:PORT, IP or IP:PORT")
            })?,
        ),
        None => (text, DNS_PORT),
    };
    if host.is_empty() || host.contains(':') {
        return Err(format!(
            "{text:?} is not HOST, HOST:PORT, IP, IP:PORT or [IPv6]:PORT"
        ));
    }
    use std::net::ToSocketAddrs;
    let resolved = (host, port).to_socket_addrs().map_err(|error| {
        format!("cannot resolve {host:?} on this machine ({error}); give the server's address as IP:PORT")
    })?;
    resolved.into_iter().next().ok_or_else(|| {
        format!("{host:?} has no address on this machine; give the server's address as IP:PORT")
    })
}

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

/// What a name answers, or is made to answer: an address (an A record for
/// IPv4, AAAA for IPv6), or another name (a CNAME). Tetrate's active/standby
/// design makes the floating name a CNAME of each MP's own name, and an AWS
/// load balancer is known only by a hostname (tsb-facts.md, "From Tetrate's
/// wider MP HA guide").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum DnsTarget {
    Address(IpAddr),
    /// Lowercase, without the trailing dot ([`DnsTarget::alias`]).
    Alias(String),
}

impl DnsTarget {
    /// An alias of `name`, as DNS compares names: case-insensitive, the
    /// trailing dot optional.
    ///
    /// # Errors
    /// A usage error (exit 2) when `name` is not a valid DNS name.
    pub fn alias(name: &str) -> Result<DnsTarget> {
        let parsed = dns_name(name, "DNS name")?;
        Ok(DnsTarget::Alias(display_name(&parsed).to_ascii_lowercase()))
    }

    /// The record type that holds it: `A`, `AAAA` or `CNAME`.
    pub fn record_type(&self) -> &'static str {
        match self {
            DnsTarget::Address(IpAddr::V4(_)) => "A",
            DnsTarget::Address(IpAddr::V6(_)) => "AAAA",
            DnsTarget::Alias(_) => "CNAME",
        }
    }

    fn rdata(&self) -> Result<RData> {
        Ok(match self {
            DnsTarget::Address(IpAddr::V4(address)) => RData::A(A(*address)),
            DnsTarget::Address(IpAddr::V6(address)) => RData::AAAA(AAAA(*address)),
            DnsTarget::Alias(name) => RData::CNAME(CNAME(dns_name(name, "alias target")?)),
        })
    }
}

impl fmt::Display for DnsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsTarget::Address(address) => address.fmt(f),
            DnsTarget::Alias(name) => f.write_str(name),
        }
    }
}

/// What the authoritative server answers for a name: its addresses (sorted),
/// or the one name it is an alias of, and the smallest TTL, seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    pub targets: Vec<DnsTarget>,
    pub ttl: u32,
}

impl DnsAnswer {
    /// The name answers exactly `target`, and nothing else.
    pub fn is(&self, target: &DnsTarget) -> bool {
        self.targets.len() == 1 && self.targets[0] == *target
    }

    /// The name is an alias (CNAME).
    pub fn is_alias(&self) -> bool {
        self.targets
            .iter()
            .any(|target| matches!(target, DnsTarget::Alias(_)))
    }
}

impl fmt::Display for DnsAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        let alias = if self.is_alias() { "CNAME " } else { "" };
        write!(f, "{alias}{} ttl {}s", targets.join(","), self.ttl)
    }
}

/// One record: the MP's name and what it should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub name: String,
    pub target: DnsTarget,
    pub ttl: u32,
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
/// `algorithm` and `secret`, comments in `#`, `//` and `/* */`. Its errors
/// never show a quoted string or a word other than the grammar's own: one
/// of them may be the secret.
fn parse_key_file(text: &str) -> std::result::Result<TsigKey, String> {
    let tokens = tokenize(text)?;
    let mut tokens = tokens.iter();
    let mut keys = Vec::new();
    while let Some(token) = tokens.next() {
        if !token.is("key") {
            return Err(format!("expected `key`, found {}", token.shown()));
        }
        let name = match tokens.next() {
            Some(Token::Word(name) | Token::Quoted(name)) => name.as_str(),
            _ => return Err("the key has no name".to_string()),
        };
        expect(&mut tokens, "{")?;
        let (mut algorithm, mut secret) = (None, None);
        loop {
            match tokens.next() {
                Some(token) if token.is("}") => break,
                Some(token) if token.is("algorithm") => {
                    algorithm = Some(statement_value(&mut tokens, "algorithm")?);
                }
                Some(token) if token.is("secret") => {
                    secret = Some(statement_value(&mut tokens, "secret")?);
                }
                Some(other) => {
                    return Err(format!("unexpected {} in key {name}", other.shown()));
                }
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

/// A token of a key file.
enum Token {
    /// `{`, `}` or `;`.
    Punctuation(char),
    Word(String),
    /// A quoted string, without its quotes.
    Quoted(String),
}

impl Token {
    /// The grammar's words a message may name.
    const KEYWORDS: [&str; 3] = ["key", "algorithm", "secret"];

    fn is(&self, wanted: &str) -> bool {
        match self {
            Token::Punctuation(char) => wanted.len() == 1 && wanted.starts_with(*char),
            Token::Word(word) => word == wanted,
            Token::Quoted(_) => false,
        }
    }

    /// How a message names it: punctuation and keywords as they are, any
    /// other word or quoted string only by what it is.
    fn shown(&self) -> String {
        match self {
            Token::Punctuation(char) => format!("`{char}`"),
            Token::Word(word) if Self::KEYWORDS.contains(&word.as_str()) => format!("`{word}`"),
            Token::Word(_) => "a word".to_string(),
            Token::Quoted(_) => "a quoted string".to_string(),
        }
    }
}

fn expect<'a>(
    tokens: &mut impl Iterator<Item = &'a Token>,
    wanted: &str,
) -> std::result::Result<(), String> {
    match tokens.next() {
        Some(token) if token.is(wanted) => Ok(()),
        Some(token) => Err(format!("expected `{wanted}`, found {}", token.shown())),
        None => Err(format!("expected `{wanted}` at the end")),
    }
}

fn statement_value<'a>(
    tokens: &mut impl Iterator<Item = &'a Token>,
    statement: &str,
) -> std::result::Result<&'a str, String> {
    let value = match tokens.next() {
        Some(Token::Word(value) | Token::Quoted(value)) => value.as_str(),
        Some(Token::Punctuation(char)) => {
            return Err(format!("`{statement}` has no value before `{char}`"));
        }
        None => return Err(format!("`{statement}` has no value")),
    };
    expect(tokens, ";")?;
    Ok(value)
}

/// Words, quoted strings (without their quotes) and the punctuation `{ } ;`.
fn tokenize(text: &str) -> std::result::Result<Vec<Token>, String> {
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
            '{' | '}' | ';' => tokens.push(Token::Punctuation(char)),
            '"' => {
                let mut quoted = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(next) => quoted.push(next),
                        None => return Err("a quoted string is not closed".to_string()),
                    }
                }
                tokens.push(Token::Quoted(quoted));
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
                tokens.push(Token::Word(word));
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

/// What the authoritative server answers now for `name`: its A and AAAA
/// records (asked at once), or the name it is an alias (CNAME) of. `None`
/// when the name has neither.
///
/// # Errors
/// Exit 3 when the server does not answer; exit 1 when it answers without
/// authority (a cache or forwarder) or with an error code.
pub async fn lookup(server: SocketAddr, name: &str) -> Result<Option<DnsAnswer>> {
    let fq_name = dns_name(name, "DNS name")?;
    let (v4, v6) = futures::join!(
        lookup_type(server, &fq_name, RecordType::A),
        lookup_type(server, &fq_name, RecordType::AAAA),
    );
    let (v4, v6) = (v4?, v6?);
    let mut answer: Option<DnsAnswer> = None;
    for (target, ttl) in v4.into_iter().chain(v6).flatten() {
        let answer = answer.get_or_insert(DnsAnswer {
            targets: Vec::new(),
            ttl,
        });
        answer.ttl = answer.ttl.min(ttl);
        answer.targets.push(target);
    }
    if let Some(answer) = answer.as_mut() {
        answer.targets.sort();
        answer.targets.dedup();
    }
    Ok(answer)
}

/// The records of `record_type` (or the CNAME standing for them) that the
/// server holds for `name`, with their TTLs; `None` for NXDOMAIN.
async fn lookup_type(
    server: SocketAddr,
    name: &Name,
    record_type: RecordType,
) -> Result<Option<Vec<(DnsTarget, u32)>>> {
    let shown = display_name(name);
    let action = format!("look up {record_type} of {shown}");
    let answer = exchange(server, query_message(name.clone(), record_type), None)
        .await
        .map_err(|error| error.into_error(server, &action))?;
    match answer.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain if answer.metadata.authoritative => return Ok(None),
        code => {
            return Err(Error::failed(format!(
                "DNS server {server} answered {code} to the {record_type} query for {shown}"
            ))
            .with_next_step("check --dns-server is the zone's authoritative server"));
        }
    }
    if !answer.metadata.authoritative {
        return Err(Error::failed(format!(
            "DNS server {server} is not authoritative for {shown} (answer without the AA bit)"
        ))
        .with_next_step("point --dns-server at the zone's primary server"));
    }
    Ok(Some(
        answer
            .answers
            .iter()
            .filter(|record| record.name == *name)
            .filter_map(|record| {
                let target = match &record.data {
                    RData::A(A(address)) => DnsTarget::Address(IpAddr::V4(*address)),
                    RData::AAAA(AAAA(address)) => DnsTarget::Address(IpAddr::V6(*address)),
                    RData::CNAME(CNAME(alias)) => {
                        DnsTarget::Alias(display_name(alias).to_ascii_lowercase())
                    }
                    _ => return None,
                };
                Some((target, record.ttl))
            })
            .collect(),
    ))
}

/// Repoints `record.name` to `record.target`; `current` is what the name
/// answers now ([`lookup`]). With RFC 2136 this is one atomic update that
/// deletes the name's address RRsets (A and AAAA, and its CNAME when it is
/// or becomes an alias) and adds the new record, so no client is sent to
/// the old MP over the other address family.
pub async fn update(
    backend: &DnsBackend,
    record: &DnsRecord,
    current: Option<&DnsAnswer>,
    ui: &Ui,
    yes: bool,
) -> Result<()> {
    match backend {
        DnsBackend::Rfc2136 { server, zone, tsig } => {
            let (name, zone_name) = name_in_zone(&record.name, zone)?;
            let message = update_message(&name, &zone_name, record, current)?;
            let refused = format!("DNS update of {} refused by {server}", record.name);
            send_update(*server, &zone_name, tsig, message, &refused).await
        }
        DnsBackend::Exec { command } => run_command(command, record, EXEC_TIMEOUT, ui).await,
        DnsBackend::Manual => confirm_manual_change(record, ui, yes),
    }
}

/// Checks before any change: the RFC 2136 server is authoritative for the
/// zone, the name lies inside it, and the server accepts our signed update
/// of the name to `record` (a no-op, see [`check_update_accepted`];
/// `current`: what the name answers now, as [`lookup`] answered); a manual
/// change can be confirmed.
pub async fn preflight(
    backend: &DnsBackend,
    record: &DnsRecord,
    current: Option<&DnsAnswer>,
    yes: bool,
) -> Result<()> {
    match backend {
        DnsBackend::Rfc2136 { server, zone, tsig } => {
            tsig.signer()?;
            name_in_zone(&record.name, zone)?;
            check_authoritative(*server, zone).await?;
            check_update_accepted(*server, zone, tsig, record, current).await
        }
        DnsBackend::Exec { command } if command.trim().is_empty() => {
            Err(Error::usage("the DNS command is empty")
                .with_next_step("pass the command with --dns-exec"))
        }
        DnsBackend::Exec { command } => match exec_program(command) {
            // Found now, not at step 5 with the old MP already fenced.
            Some(program) if which::which(program).is_err() => Err(Error::usage(format!(
                "the DNS command's program {program} is not found, or not executable"
            ))
            .with_next_step(
                "check --dns-exec: a path to an executable file, or a program on PATH",
            )),
            _ => Ok(()),
        },
        DnsBackend::Manual => manual_confirmable(&record.name, yes, on_terminal()),
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

/// The RRsets an update of the name to `target` replaces: A and AAAA
/// always (no client may stay on the old MP over the other family), and
/// CNAME when the name is or becomes an alias. Only these types are
/// touched, so a zone policy granting the key just them is enough.
fn replaced_types(target: &DnsTarget, current: Option<&DnsAnswer>) -> Vec<RecordType> {
    let mut types = vec![RecordType::A, RecordType::AAAA];
    if matches!(target, DnsTarget::Alias(_)) || current.is_some_and(DnsAnswer::is_alias) {
        types.push(RecordType::CNAME);
    }
    types
}

fn update_message(
    name: &Name,
    zone: &Name,
    record: &DnsRecord,
    current: Option<&DnsAnswer>,
) -> Result<Message> {
    let mut message = update_of(zone);
    // RFC 2136 2.5.2: class ANY, TTL 0 and empty RDATA delete a whole RRset.
    for record_type in replaced_types(&record.target, current) {
        let mut delete = Record::update0(name.clone(), 0, record_type).into_record_of_rdata();
        delete.dns_class = DNSClass::ANY;
        message.add_update(delete);
    }
    message.add_update(Record::from_rdata(
        name.clone(),
        record.ttl,
        record.target.rdata()?,
    ));
    Ok(message)
}

/// Signs and sends an update of `zone`; `refused` starts the line saying
/// why the server did not accept it.
async fn send_update(
    server: SocketAddr,
    zone: &Name,
    tsig: &TsigKey,
    message: Message,
    refused: &str,
) -> Result<()> {
    let signer = tsig.signer()?;
    let name = message
        .authorities
        .first()
        .map_or_else(|| display_name(zone), |record| display_name(&record.name));
    let answer = exchange(server, message, Some(&signer))
        .await
        .map_err(|error| error.into_error(server, &format!("update {name}")))?;
    update_outcome(&answer, tsig, refused, &name, &display_name(zone))
}

/// Proves, changing nothing, that the server will accept the failover's
/// update of `record.name`: it is sent a TSIG-signed update of the same
/// name and record types ([`replaced_types`]) whose only changes delete
/// records that do not exist (RFC 2136 2.5.4: class NONE), so the server
/// checks the signature, its key and the zone's update policy for this name
/// and these types, and then has nothing to do.
///
/// # Errors
/// As the update itself would fail: BADSIG (wrong secret), BADKEY (unknown
/// key or algorithm), BADTIME, NOTAUTH, REFUSED (the policy does not allow
/// the key to update the name), NOTZONE; exit 3 if the server does not answer.
pub async fn check_update_accepted(
    server: SocketAddr,
    zone: &str,
    tsig: &TsigKey,
    record: &DnsRecord,
    current: Option<&DnsAnswer>,
) -> Result<()> {
    let (name, zone_name) = name_in_zone(&record.name, zone)?;
    let types = replaced_types(&record.target, current);
    let message = no_op_update_message(&name, &zone_name, &types, current)?;
    let refused = format!(
        "the DNS update of {} would be refused by {server}",
        display_name(&name)
    );
    send_update(server, &zone_name, tsig, message, &refused).await
}

/// An update of `name`'s RRsets of `types` that changes nothing: for each
/// type it deletes one record the name does not hold (`current`): a
/// documentation address (RFC 5737, RFC 3849), or an alias of a name that
/// cannot exist (RFC 2606's `.invalid`).
fn no_op_update_message(
    name: &Name,
    zone: &Name,
    types: &[RecordType],
    current: Option<&DnsAnswer>,
) -> Result<Message> {
    let held = |target: &DnsTarget| current.is_some_and(|answer| answer.targets.contains(target));
    let absent = |candidates: Vec<DnsTarget>| {
        let first = candidates[0].clone();
        candidates
            .into_iter()
            .find(|target| !held(target))
            .unwrap_or(first)
    };
    let mut message = update_of(zone);
    for record_type in types {
        let target = match record_type {
            RecordType::A => absent(
                (1..=254)
                    .map(|last| DnsTarget::Address(IpAddr::from([192, 0, 2, last])))
                    .collect(),
            ),
            RecordType::AAAA => absent(
                (1..=254u16)
                    .map(|last| {
                        DnsTarget::Address(IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, last]))
                    })
                    .collect(),
            ),
            _ => DnsTarget::Alias("kubectl-mp-no-op.invalid".into()),
        };
        // RFC 2136 2.5.4: class NONE and TTL 0 delete this one RR, if present.
        let mut delete = Record::from_rdata(name.clone(), 0, target.rdata()?);
        delete.dns_class = DNSClass::NONE;
        message.add_update(delete);
    }
    Ok(message)
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

/// The program a `--dns-exec` command starts, when it can be told without
/// running the command: a simple command (no quotes, `$`, globs or
/// operators anywhere: an assignment of `PATH` always has one,
/// `PATH=...:$PATH`), its first word after `NAME=value` assignments, unless
/// that is a shell builtin or keyword.
fn exec_program(command: &str) -> Option<&str> {
    const SHELL_SYNTAX: &str = "\"'`$\\;&|<>(){}*?[]~#!";
    const SHELL_WORDS: [&str; 16] = [
        ".", ":", "exec", "eval", "command", "cd", "set", "export", "unset", "source", "trap",
        "if", "for", "while", "until", "case",
    ];
    if command.contains(|c| SHELL_SYNTAX.contains(c)) {
        return None;
    }
    let is_assignment = |word: &str| {
        word.split_once('=').is_some_and(|(name, _)| {
            name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    let program = command
        .split_whitespace()
        .find(|word| !is_assignment(word))?;
    (!SHELL_WORDS.contains(&program)).then_some(program)
}

/// Runs `command` through `sh -c`, with the name and its new target (an
/// address, or the name to alias) appended as its arguments and also in the
/// environment: MP_DNS_NAME, MP_DNS_TYPE (A, AAAA or CNAME), MP_DNS_TARGET,
/// MP_DNS_TTL, and MP_DNS_ADDRESS for an address. Bounded by `timeout`
/// ([`EXEC_TIMEOUT`]). The command runs in a process group of its own, which
/// is killed whole when it is stopped (timeout, interrupt) and when it is
/// done: a provider's CLI it started cannot change the record after the
/// failover has reported, nor hold its output open.
async fn run_command(command: &str, record: &DnsRecord, timeout: Duration, ui: &Ui) -> Result<()> {
    let target = record.target.to_string();
    let shown = format!("`{command}` for {} -> {target}", record.name);
    let mut child = tokio::process::Command::new("sh");
    child
        .arg("-c")
        .arg(format!("{command} \"$@\""))
        .arg("kubectl-mp-dns")
        .arg(&record.name)
        .arg(&target)
        .env("MP_DNS_NAME", &record.name)
        .env("MP_DNS_TYPE", record.target.record_type())
        .env("MP_DNS_TARGET", &target)
        .env("MP_DNS_TTL", record.ttl.to_string());
    if let DnsTarget::Address(_) = record.target {
        child.env("MP_DNS_ADDRESS", &target);
    }
    let child = child
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| Error::failed(format!("cannot start the DNS command {shown}: {error}")))?;
    let _group = child.id().map(ProcessGroup);
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            Error::failed(format!(
                "the DNS command {shown} did not finish within {}s and was stopped",
                timeout.as_secs()
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

/// The DNS command's process group (its leader's pid), killed whole when
/// dropped: whatever the command left running ends with it.
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let leader = i32::try_from(self.0)
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(leader) = leader {
            // Gone already (the usual case once it is done): nothing to do.
            let _ = rustix::process::kill_process_group(leader, rustix::process::Signal::KILL);
        }
    }
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
    ui.info(&format!(
        "Change the DNS record by hand: {}. {} {} {} (replace every A, AAAA and CNAME record of the name)",
        record.name.trim_end_matches('.'),
        record.ttl,
        record.target.record_type(),
        record.target
    ));
    if crate::ui::prompt::confirm(
        ui,
        "confirm the DNS record was changed",
        "take it as done and wait for the DNS server to answer the new record",
        false,
    )? {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "the DNS change of {} was not confirmed",
            record.name
        ))
        .with_next_step("change the record, then re-run with --resume"))
    }
}

/// Polls `server` until `name` answers exactly `target` (and nothing
/// else), for at most `deadline`; returns the TTL it now answers with, in
/// seconds. Resolvers that cached the old answer keep it for up to the
/// *old* record's TTL: take that from `lookup` before the update.
///
/// # Errors
/// Exit 1 when the server still answers something else at the deadline;
/// the lookup's own error (exit 3 for no answer) when that was the last.
pub async fn wait_for(
    server: SocketAddr,
    name: &str,
    target: &DnsTarget,
    deadline: Duration,
) -> Result<u32> {
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        let last = match lookup(server, name).await {
            Ok(Some(answer)) if answer.is(target) => return Ok(answer.ttl),
            Ok(answer) => Ok(answer),
            Err(error) => Err(error),
        };
        if tokio::time::Instant::now() + POLL_INTERVAL > give_up {
            let waited = deadline.as_secs();
            return Err(match last {
                Ok(answer) => {
                    let answer = answer.map_or("no record".to_string(), |answer| {
                        answer
                            .targets
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    });
                    Error::failed(format!(
                        "DNS server {server} still answers {answer} for {name} after {waited}s, not {target}"
                    ))
                    .with_next_step("check the change reached the zone's primary, then re-run with --resume")
                }
                Err(error) => Error::new(
                    error.exit(),
                    format!(
                        "waiting {waited}s for {name} to answer {target}: {}",
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

    fn address(text: &str) -> DnsTarget {
        DnsTarget::Address(text.parse().unwrap())
    }

    #[test]
    fn the_dns_commands_program_is_its_first_plain_word() {
        assert_eq!(exec_program("./update-dns.sh"), Some("./update-dns.sh"));
        assert_eq!(
            exec_program("MP_ROUTE53_ZONE_ID=Z0 AWS_PROFILE=dr /opt/hooks/route53.sh --x"),
            Some("/opt/hooks/route53.sh")
        );
        assert_eq!(exec_program("  aws-dns  "), Some("aws-dns"));
        // What only the shell can tell.
        for command in [
            "PATH=/opt/bin:\"$PATH\" route53.sh",
            "\"/opt/my hooks/dns.sh\"",
            "$HOOK",
            "cd /opt && ./dns.sh",
            "cd /opt",
            "exec ./dns.sh",
            "A=1",
        ] {
            assert_eq!(exec_program(command), None, "{command}");
        }
    }

    #[tokio::test]
    async fn the_preflight_finds_the_dns_commands_program_before_anything_changes() {
        let record = DnsRecord {
            name: "tsb.example.com".into(),
            target: address("192.0.2.10"),
            ttl: 30,
        };
        let exec = |command: &str| DnsBackend::Exec {
            command: command.into(),
        };
        let error = preflight(&exec("./no-such-dns-hook.sh"), &record, None, true)
            .await
            .unwrap_err();
        assert_eq!(
            error.message(),
            "the DNS command's program ./no-such-dns-hook.sh is not found, or not executable"
        );
        let error = preflight(&exec("X=1 no-such-dns-cli --zone z"), &record, None, true)
            .await
            .unwrap_err();
        assert!(error.message().contains("no-such-dns-cli"), "{error}");
        assert!(
            preflight(&exec("/no/such/dns-hook"), &record, None, true)
                .await
                .is_err()
        );
        preflight(&exec("sh -c true"), &record, None, true)
            .await
            .expect("a program on PATH");
        preflight(&exec("$HOOK"), &record, None, true)
            .await
            .expect("what the shell expands is left to it");
    }

    /// A command stopped at its timeout takes what it started with it: a
    /// provider's CLI cannot apply the change after the failover said it
    /// did not happen.
    #[tokio::test]
    async fn a_dns_command_stopped_at_its_timeout_ends_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let command = format!("sleep 60 & echo $! > {}; wait; :", pid_file.display());
        let record = DnsRecord {
            name: "tsb.example.com".into(),
            target: address("10.0.0.2"),
            ttl: 30,
        };
        let error = run_command(&command, &record, Duration::from_secs(1), &Ui::new(false))
            .await
            .unwrap_err();
        assert!(
            error
                .message()
                .contains("did not finish within 1s and was stopped"),
            "{}",
            error.message()
        );
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed, then reaped by init: gone within a moment.
        let gone = async {
            while std::path::Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z ")
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), gone)
            .await
            .expect("the command's background sleep still runs");
    }

    #[test]
    fn the_dns_server_is_an_address_or_a_name_port_53_unless_given() {
        for (text, expected) in [
            ("10.0.0.53:5353", "10.0.0.53:5353"),
            ("10.0.0.53", "10.0.0.53:53"),
            ("[fd00::53]:5353", "[fd00::53]:5353"),
            ("fd00::53", "[fd00::53]:53"),
            ("[fd00::53]", "[fd00::53]:53"),
        ] {
            assert_eq!(parse_server(text), Ok(expected.parse().unwrap()), "{text}");
        }
        // A name goes through this machine's resolver (/etc/hosts here).
        for (text, port) in [("localhost", 53), ("localhost:5353", 5353)] {
            let resolved = parse_server(text).unwrap();
            assert!(
                resolved.ip().is_loopback() && resolved.port() == port,
                "{text}: {resolved}"
            );
        }
        for (text, says) in [
            ("ns1.example:http", "port \"http\" is not a number"),
            ("ns1.example:70000", "port \"70000\" is not a number"),
            ("", "is not HOST, HOST:PORT"),
            (
                "no-such-host.invalid:53",
                "cannot resolve \"no-such-host.invalid\" on this machine",
            ),
        ] {
            let error = parse_server(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }

    #[test]
    fn targets_name_their_record_type_and_aliases_compare_as_dns_does() {
        assert_eq!(address("10.0.0.1").record_type(), "A");
        assert_eq!(address("2001:db8::1").record_type(), "AAAA");
        let alias = DnsTarget::alias("MP2.Example.COM.").unwrap();
        assert_eq!(alias.record_type(), "CNAME");
        assert_eq!(alias, DnsTarget::alias("mp2.example.com").unwrap());
        assert_eq!(alias.to_string(), "mp2.example.com");
        assert!(DnsTarget::alias("not a name").is_err());
        let answer = DnsAnswer {
            targets: vec![alias.clone()],
            ttl: 30,
        };
        assert!(answer.is(&alias) && answer.is_alias());
        assert_eq!(answer.to_string(), "CNAME mp2.example.com ttl 30s");
    }

    /// The types an update message deletes whole (class ANY), in order.
    fn deleted_types(message: &Message) -> Vec<RecordType> {
        message
            .authorities
            .iter()
            .filter(|update| update.dns_class == DNSClass::ANY)
            .map(Record::record_type)
            .collect()
    }

    #[test]
    fn an_alias_replaces_the_address_rrsets_and_the_cname() {
        let (name, zone) = name_in_zone("tsb.mp.example", "mp.example").unwrap();
        let to_alias = DnsRecord {
            name: "tsb.mp.example".into(),
            target: DnsTarget::alias("mp2.mp.example").unwrap(),
            ttl: 60,
        };
        let message = update_message(&name, &zone, &to_alias, None).unwrap();
        use RecordType::{A, AAAA, CNAME};
        assert_eq!(deleted_types(&message), [A, AAAA, CNAME]);
        let added = message.authorities.last().unwrap();
        assert_eq!(
            added.data,
            RData::CNAME(hickory_net::proto::rr::rdata::CNAME(
                Name::from_ascii("mp2.mp.example.").unwrap()
            ))
        );
        // An alias repointed to an address loses its CNAME in the same update.
        let was_alias = DnsAnswer {
            targets: vec![DnsTarget::alias("mp1.mp.example").unwrap()],
            ttl: 30,
        };
        let to_address = DnsRecord {
            target: address("192.0.2.7"),
            ..to_alias
        };
        let message = update_message(&name, &zone, &to_address, Some(&was_alias)).unwrap();
        assert_eq!(deleted_types(&message), [A, AAAA, CNAME]);
        // The preflight's no-op asks for exactly the types the update touches.
        let no_op = no_op_update_message(
            &name,
            &zone,
            &replaced_types(&to_address.target, Some(&was_alias)),
            Some(&was_alias),
        )
        .unwrap();
        let touched: Vec<_> = no_op.authorities.iter().map(Record::record_type).collect();
        assert_eq!(touched, [A, AAAA, CNAME]);
        assert!(
            no_op
                .authorities
                .iter()
                .all(|update| update.dns_class == DNSClass::NONE)
        );
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

    /// One stray `=`, a secret left unquoted, a secret where a keyword
    /// should be: the error names the place, never the secret.
    #[test]
    fn key_file_errors_never_show_the_secret() {
        let secret = "AgZFG29C3/eggZ6cQsevie8jBA2JEpdJW65qtHlsxUY=";
        for text in [
            format!("key \"k\" {{ algorithm hmac-sha256; secret = \"{secret}\"; }};"),
            format!("key \"k\" {{ secret = {secret}; }};"),
            format!("key \"k\" {{ \"{secret}\"; }};"),
            format!("key \"k\" {{ {secret} }};"),
            format!("\"{secret}\" key \"k\" {{ }};"),
            format!("key \"k\" {{ secret \"{secret}\" }};"),
            format!("key \"k\" {{ secret \"{secret}\"; }} {secret}"),
        ] {
            let error = parse_key_file(&text).unwrap_err();
            assert!(!error.contains(secret), "{text}: {error}");
            assert!(!error.contains("AgZFG29C3"), "{text}: {error}");
        }
        assert_eq!(
            parse_key_file(&format!("key \"k\" {{ secret = \"{secret}\"; }};")).unwrap_err(),
            "expected `;`, found a quoted string"
        );
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
            target: address("192.0.2.7"),
            ttl: 60,
        };
        let message = update_message(&name, &zone, &record, None).unwrap();
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
            target: address("192.0.2.7"),
            ttl: 60,
        };
        let error = update(&DnsBackend::Manual, &record, None, &Ui::plain(false), true)
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
