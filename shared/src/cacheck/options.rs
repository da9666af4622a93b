//! What the checks are tuned with: [`CheckOptions`], and the defaults the
//! flags show.

/// Certificates expiring sooner than this are a warning.
pub const DEFAULT_EXPIRY_WARNING_DAYS: i64 = 30;

/// The secrets whose leaf must carry the floating DNS name clients use: the
/// MP front (API, UI, tctl) and XCP central (control planes).
pub const DEFAULT_DNS_NAME_SECRETS: [&str; 2] = ["tsb-certs", "xcp-central-cert"];

/// What the checks are tuned with.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub dns_name: Option<String>,
    pub dns_name_secrets: Vec<String>,
    pub expiry_warning_days: i64,
    /// "Now", Unix seconds: fixed by the caller so results are reproducible.
    pub now: i64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            dns_name: None,
            dns_name_secrets: DEFAULT_DNS_NAME_SECRETS.map(String::from).to_vec(),
            expiry_warning_days: DEFAULT_EXPIRY_WARNING_DAYS,
            now: jiff::Timestamp::now().as_second(),
        }
    }
}
