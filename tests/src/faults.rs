//! Fault knobs and request counters for tests and benchmarks.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;

/// The Kubernetes verb of a request, as the API server's audit log names it,
/// from its method, whether its path names one object, and `?watch`.
pub fn kubernetes_verb(method: &hyper::Method, named: bool, watch: bool) -> &'static str {
    use hyper::Method;
    match (method, named) {
        (&Method::GET, _) if watch => "watch",
        (&Method::GET, true) => "get",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

/// What a matching request gets instead of its answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// A `metav1.Status` error with this HTTP code.
    Status(u16),
    /// The request is held open without an answer.
    Timeout,
}

/// A fault rule; see tests/README.md.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FaultRule {
    pub verb: Option<String>,
    pub path_contains: Option<String>,
    pub nth: Option<u64>,
    pub times: Option<u64>,
    pub action: FaultAction,
}

impl FaultRule {
    fn matches(&self, verb: &str, path: &str) -> bool {
        self.verb.as_deref().is_none_or(|wanted| wanted == verb)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|part| path.contains(part))
    }
}

/// A rule with its bookkeeping: how many requests matched, how often it fired.
#[derive(Debug)]
struct ActiveRule {
    rule: FaultRule,
    matched: u64,
    fired: u64,
}

#[derive(Debug, Default)]
struct FaultState {
    latency: Duration,
    rules: Vec<ActiveRule>,
    counters: BTreeMap<String, u64>,
    /// Requests by their `User-Agent` ("" without one).
    user_agents: BTreeMap<String, u64>,
    /// LISTs (and watches) by "PATH?labelSelector=SELECTOR" ("PATH" for
    /// none): what a LIST returns depends on its selector, which `counters`
    /// do not show.
    lists: BTreeMap<String, u64>,
    /// Reads asking for any version (`resourceVersion=0`), which the API
    /// server serves from its watch cache, by "VERB PATH".
    watch_cache_reads: BTreeMap<String, u64>,
}

/// One cluster's knobs and counters, shared by its request handlers.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<FaultState>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        // A panicking test thread must not wedge every later request.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    pub fn add_rule(&self, rule: FaultRule) {
        self.lock().rules.push(ActiveRule {
            rule,
            matched: 0,
            fired: 0,
        });
    }

    /// Clears the rules and the latency (the counters stay).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.rules.clear();
        state.latency = Duration::ZERO;
    }

    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.lock().counters.clone()
    }

    /// Requests by their `User-Agent` ("" for none), as an audit log names the client.
    pub fn user_agents(&self) -> BTreeMap<String, u64> {
        self.lock().user_agents.clone()
    }

    /// LISTs and watches by "PATH?labelSelector=SELECTOR", or "PATH" when
    /// unfiltered (no label or field selector).
    pub fn lists(&self) -> BTreeMap<String, u64> {
        self.lock().lists.clone()
    }

    /// Reads served from the API server's watch cache (`resourceVersion=0`)
    /// by "VERB PATH".
    pub fn watch_cache_reads(&self) -> BTreeMap<String, u64> {
        self.lock().watch_cache_reads.clone()
    }

    /// Clears the request counts, the user agents, the LISTs and the
    /// watch-cache reads.
    pub fn reset_counters(&self) {
        let mut state = self.lock();
        state.counters.clear();
        state.user_agents.clear();
        state.lists.clear();
        state.watch_cache_reads.clear();
    }

    /// Counts a `verb` of `path` whose `query` asks for any version.
    pub fn on_read(&self, verb: &str, path: &str, query: &str) {
        if query.split('&').any(|pair| pair == "resourceVersion=0") {
            *self
                .lock()
                .watch_cache_reads
                .entry(format!("{verb} {path}"))
                .or_default() += 1;
        }
    }

    /// Counts a LIST or watch of `path` by the selectors in its `query`.
    pub fn on_list(&self, path: &str, query: &str) {
        let selectors: Vec<String> = query
            .split('&')
            .filter(|pair| pair.starts_with("labelSelector=") || pair.starts_with("fieldSelector="))
            .map(percent_decode)
            .collect();
        let key = if selectors.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", selectors.join("&"))
        };
        *self.lock().lists.entry(key).or_default() += 1;
    }

    /// Counts a request's `User-Agent` (None: it sent none).
    pub fn on_user_agent(&self, user_agent: Option<&str>) {
        *self
            .lock()
            .user_agents
            .entry(user_agent.unwrap_or_default().to_string())
            .or_default() += 1;
    }

    /// Counts an API request as "VERB PATH" and returns the fault it gets, if
    /// any. The first rule that fires wins; every matching rule still counts
    /// the request so `nth` stays predictable when rules overlap.
    pub fn on_request(&self, verb: &str, path: &str) -> Option<FaultAction> {
        let mut state = self.lock();
        *state.counters.entry(format!("{verb} {path}")).or_default() += 1;
        let mut action = None;
        for active in state.rules.iter_mut() {
            if !active.rule.matches(verb, path) {
                continue;
            }
            active.matched += 1;
            let nth_ok = active.rule.nth.is_none_or(|nth| nth == active.matched);
            let times_ok = active.rule.times.is_none_or(|times| active.fired < times);
            if action.is_none() && nth_ok && times_ok {
                active.fired += 1;
                action = Some(active.rule.action.clone());
            }
        }
        action
    }
}

/// `text` with its %XX escapes decoded (a selector's `=` and `,`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parses_readme_rule_shapes() {
        let status =
            rule(r#"{"verb":"create","path_contains":"/secrets","action":{"status":500}}"#);
        assert_eq!(status.action, FaultAction::Status(500));
        assert_eq!(status.verb.as_deref(), Some("create"));
        let timeout = rule(r#"{"nth":3,"times":1,"action":"timeout"}"#);
        assert_eq!(timeout.action, FaultAction::Timeout);
        assert_eq!(timeout.nth, Some(3));
    }

    #[test]
    fn counts_requests_by_verb_and_path() {
        let faults = Faults::default();
        faults.on_request("get", "/api/v1/namespaces/tsb/secrets/x");
        faults.on_request("get", "/api/v1/namespaces/tsb/secrets/x");
        faults.on_request("list", "/api/v1/namespaces/tsb/secrets");
        let counters = faults.counters();
        assert_eq!(counters["get /api/v1/namespaces/tsb/secrets/x"], 2);
        assert_eq!(counters["list /api/v1/namespaces/tsb/secrets"], 1);
        faults.on_user_agent(Some("kubectl-mp-export/0.1.0"));
        faults.on_user_agent(None);
        assert_eq!(
            faults.user_agents(),
            BTreeMap::from([("".into(), 1), ("kubectl-mp-export/0.1.0".into(), 1)])
        );
        faults.reset_counters();
        assert!(faults.counters().is_empty());
        assert!(faults.user_agents().is_empty());
    }

    #[test]
    fn lists_are_counted_by_their_selectors() {
        let faults = Faults::default();
        faults.on_list("/api/v1/namespaces/tsb/secrets", "limit=500");
        faults.on_list(
            "/api/v1/namespaces/tsb/secrets",
            "labelSelector=owner%3Dhelm%2Cname%3Dmp&limit=500",
        );
        assert_eq!(
            faults.lists(),
            BTreeMap::from([
                ("/api/v1/namespaces/tsb/secrets".into(), 1),
                (
                    "/api/v1/namespaces/tsb/secrets?labelSelector=owner=helm,name=mp".into(),
                    1
                ),
            ])
        );
        faults.reset_counters();
        assert!(faults.lists().is_empty());
    }

    #[test]
    fn reads_asking_for_any_version_are_counted_as_watch_cache_reads() {
        let faults = Faults::default();
        let deployment = "/apis/apps/v1/namespaces/istio-system/deployments/edge";
        faults.on_read("get", deployment, "");
        faults.on_read("get", deployment, "resourceVersion=0");
        faults.on_read("get", deployment, "resourceVersion=10");
        faults.on_read(
            "list",
            "/api/v1/namespaces/istio-system/pods",
            "labelSelector=app%3Dedge&resourceVersion=0&resourceVersionMatch=NotOlderThan",
        );
        assert_eq!(
            faults.watch_cache_reads(),
            BTreeMap::from([
                (format!("get {deployment}"), 1),
                ("list /api/v1/namespaces/istio-system/pods".into(), 1),
            ])
        );
        faults.reset_counters();
        assert!(faults.watch_cache_reads().is_empty());
    }

    #[test]
    fn matches_verb_and_path_substring() {
        let faults = Faults::default();
        faults.add_rule(rule(
            r#"{"verb":"create","path_contains":"/secrets","action":{"status":403}}"#,
        ));
        assert_eq!(
            faults.on_request("get", "/api/v1/namespaces/tsb/secrets"),
            None
        );
        assert_eq!(
            faults.on_request("create", "/api/v1/namespaces/tsb/configmaps"),
            None
        );
        assert_eq!(
            faults.on_request("create", "/api/v1/namespaces/tsb/secrets"),
            Some(FaultAction::Status(403))
        );
    }

    #[test]
    fn nth_fires_only_on_that_match_and_times_bounds_firing() {
        let faults = Faults::default();
        faults.add_rule(rule(r#"{"verb":"get","nth":2,"action":"timeout"}"#));
        assert_eq!(faults.on_request("get", "/a"), None);
        assert_eq!(faults.on_request("get", "/a"), Some(FaultAction::Timeout));
        assert_eq!(faults.on_request("get", "/a"), None);

        faults.clear();
        faults.add_rule(rule(r#"{"times":2,"action":{"status":500}}"#));
        assert_eq!(
            faults.on_request("list", "/b"),
            Some(FaultAction::Status(500))
        );
        assert_eq!(
            faults.on_request("list", "/b"),
            Some(FaultAction::Status(500))
        );
        assert_eq!(faults.on_request("list", "/b"), None);
    }

    #[test]
    fn clear_drops_rules_and_latency() {
        let faults = Faults::default();
        faults.set_latency(Duration::from_millis(50));
        faults.add_rule(rule(r#"{"action":{"status":500}}"#));
        faults.clear();
        assert_eq!(faults.latency(), Duration::ZERO);
        assert_eq!(faults.on_request("get", "/a"), None);
    }
}
