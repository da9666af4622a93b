//! The sandbox's controllers, as pure functions the server's loop calls:
//! Deployment status follows spec.replicas after a delay, and the TSB operator
//! scales the MP deployments back up while it runs itself.

use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Annotation on a managed deployment giving the replica count the operator
/// restores it to. Without it the operator restores 1: TSB's operator
/// reconciles to the ManagementPlane spec, whose default is one replica per
/// component; the seeds annotate the deployments that run more (`envoy`).
/// A value that is not a positive integer counts as absent.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "mp-sandbox.kubectl-mp.io/desired-replicas";

/// The label the seeds put on every deployment the TSB operator manages
/// (not on the operator itself). Inferred: the real operator's labels are
/// not documented.
pub const MANAGED_LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "tsb-operator");

/// The TSB Management Plane operator's deployment.
pub const OPERATOR_DEPLOYMENT: &str = "tsb-operator-management-plane";

/// What the TSB operator emulation watches.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// The operator's own deployment (`tsb-operator-management-plane`).
    pub operator_deployment: String,
    /// Label selecting the deployments it manages (key, value).
    pub managed_label: (String, String),
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            operator_deployment: OPERATOR_DEPLOYMENT.to_string(),
            managed_label: (MANAGED_LABEL.0.to_string(), MANAGED_LABEL.1.to_string()),
        }
    }
}

/// The status `deployment` should report now, `since_spec_change` after its
/// spec last changed: ready replicas catch up with spec.replicas once
/// `ready_delay` has passed. Returns None when the current status is already right.
///
/// Scaling down shows at once. Scaling up shows the new count in `replicas`
/// and `updatedReplicas` at once, but `readyReplicas`/`availableReplicas`
/// keep their old value until the delay has passed, so `kubectl rollout
/// status` waits ("n of m updated replicas are available") as it would for
/// pods starting. Counts of zero are omitted, as the real API server's
/// `omitempty` does.
pub fn next_deployment_status(
    deployment: &Value,
    since_spec_change: Duration,
    ready_delay: Duration,
) -> Option<Value> {
    let current = deployment.get("status").cloned().unwrap_or(json!({}));
    let wanted = spec_replicas(deployment);
    let previously_ready = count(&current, "readyReplicas");
    let ready = if since_spec_change >= ready_delay {
        wanted
    } else {
        previously_ready.min(wanted)
    };
    let generation = deployment
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);

    let mut status = Map::new();
    status.insert("observedGeneration".into(), json!(generation));
    for (field, value) in [
        ("replicas", wanted),
        ("updatedReplicas", wanted),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
    ] {
        if value > 0 {
            status.insert(field.into(), json!(value));
        }
    }
    if ready < wanted {
        status.insert("unavailableReplicas".into(), json!(wanted - ready));
    }

    let has_minimum_availability = ready >= wanted - max_unavailable(deployment, wanted);
    let replica_set = replica_set_name(deployment);
    let available = if has_minimum_availability {
        ConditionState {
            status: "True",
            reason: "MinimumReplicasAvailable",
            message: "Deployment has minimum availability.".to_string(),
        }
    } else {
        ConditionState {
            status: "False",
            reason: "MinimumReplicasUnavailable",
            message: "Deployment does not have minimum availability.".to_string(),
        }
    };
    let progressing = if ready >= wanted {
        ConditionState {
            status: "True",
            reason: "NewReplicaSetAvailable",
            message: format!("ReplicaSet \"{replica_set}\" has successfully progressed."),
        }
    } else {
        ConditionState {
            status: "True",
            reason: "ReplicaSetUpdated",
            message: format!("ReplicaSet \"{replica_set}\" is progressing."),
        }
    };
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let conditions = vec![
        condition("Available", &available, &current, &now),
        condition("Progressing", &progressing, &current, &now),
    ];
    status.insert("conditions".into(), Value::Array(conditions));

    let status = Value::Object(status);
    (status != current).then_some(status)
}

/// The (deployment name, replicas) corrections the operator makes among the
/// `deployments` of one namespace; empty unless the operator itself has ready replicas.
///
/// A managed deployment scaled below its desired count (see
/// [`DESIRED_REPLICAS_ANNOTATION`]) is scaled back to it; one scaled above
/// is left alone, as an operator leaves room for manual or HPA scale-out.
pub fn operator_corrections(deployments: &[Value], config: &OperatorConfig) -> Vec<(String, i64)> {
    let operator_runs = deployments.iter().any(|deployment| {
        name(deployment) == Some(config.operator_deployment.as_str())
            && spec_replicas(deployment) > 0
            && deployment
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                > 0
    });
    if !operator_runs {
        return Vec::new();
    }
    let (label_key, label_value) = &config.managed_label;
    deployments
        .iter()
        .filter(|deployment| name(deployment) != Some(config.operator_deployment.as_str()))
        .filter(|deployment| {
            deployment
                .pointer("/metadata/labels")
                .and_then(|labels| labels.get(label_key))
                .and_then(Value::as_str)
                == Some(label_value.as_str())
        })
        .filter_map(|deployment| {
            let desired = desired_replicas(deployment);
            let name = name(deployment)?;
            (spec_replicas(deployment) < desired).then(|| (name.to_string(), desired))
        })
        .collect()
}

struct ConditionState {
    status: &'static str,
    reason: &'static str,
    message: String,
}

/// A condition in the shape the deployment controller writes. Timestamps
/// are kept from the current condition when nothing changed, so an
/// unchanged deployment compares equal and needs no update;
/// lastTransitionTime moves only when the status flips.
fn condition(kind: &str, state: &ConditionState, current: &Value, now: &str) -> Value {
    let existing = current
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|condition| condition.get("type").and_then(Value::as_str) == Some(kind))
        });
    let field = |key: &str| existing.and_then(|condition| condition.get(key));
    let text = |key: &str| field(key).and_then(Value::as_str);
    let unchanged = text("status") == Some(state.status)
        && text("reason") == Some(state.reason)
        && text("message") == Some(state.message.as_str());
    let last_update = match field("lastUpdateTime") {
        Some(time) if unchanged => time.clone(),
        _ => json!(now),
    };
    let last_transition = match field("lastTransitionTime") {
        Some(time) if text("status") == Some(state.status) => time.clone(),
        _ => json!(now),
    };
    json!({
        "type": kind,
        "status": state.status,
        "reason": state.reason,
        "message": state.message,
        "lastUpdateTime": last_update,
        "lastTransitionTime": last_transition,
    })
}

fn name(object: &Value) -> Option<&str> {
    object.pointer("/metadata/name").and_then(Value::as_str)
}

/// spec.replicas, defaulting to 1 as the API server does.
fn spec_replicas(deployment: &Value) -> i64 {
    deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn count(status: &Value, field: &str) -> i64 {
    status.get(field).and_then(Value::as_i64).unwrap_or(0)
}

fn desired_replicas(deployment: &Value) -> i64 {
    deployment
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(DESIRED_REPLICAS_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<i64>().ok())
        .filter(|replicas| *replicas > 0)
        .unwrap_or(1)
}

/// How many of `replicas` may be unavailable while the deployment still
/// counts as available: the rolling update's maxUnavailable (default 25%,
/// a percentage rounding down), zero for the Recreate strategy.
fn max_unavailable(deployment: &Value, replicas: i64) -> i64 {
    let strategy = deployment.pointer("/spec/strategy");
    if strategy
        .and_then(|strategy| strategy.get("type"))
        .and_then(Value::as_str)
        == Some("Recreate")
    {
        return 0;
    }
    let setting = strategy.and_then(|strategy| strategy.pointer("/rollingUpdate/maxUnavailable"));
    let allowed = match setting {
        Some(Value::Number(number)) => number.as_i64().unwrap_or(0),
        Some(Value::String(text)) => text
            .strip_suffix('%')
            .and_then(|percent| percent.parse::<i64>().ok())
            .map_or(0, |percent| replicas * percent / 100),
        _ => replicas * 25 / 100,
    };
    allowed.clamp(0, replicas)
}

/// The name of the deployment's current ReplicaSet: the deployment name and
/// a hash of its pod template, spelled with the alphabet Kubernetes uses for
/// generated names (no vowels, so no accidental words).
fn replica_set_name(deployment: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let template = deployment
        .pointer("/spec/template")
        .map(Value::to_string)
        .unwrap_or_default();
    let digest = Sha256::digest(template.as_bytes());
    let hash: String = digest
        .iter()
        .take(10)
        .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]))
        .collect();
    format!("{}-{hash}", name(deployment).unwrap_or("deployment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Duration = Duration::from_secs(2);

    fn deployment(name: &str, replicas: i64, status: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": "tsb",
                "generation": 3,
                "labels": {MANAGED_LABEL.0: MANAGED_LABEL.1},
            },
            "spec": {
                "replicas": replicas,
                "template": {"metadata": {"labels": {"app": name}}},
            },
            "status": status,
        })
    }

    fn settled(replicas: i64) -> Value {
        let fresh = deployment("tsb", replicas, json!({}));
        next_deployment_status(&fresh, DELAY, DELAY).unwrap()
    }

    fn condition_of<'a>(status: &'a Value, kind: &str) -> &'a Value {
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|condition| condition["type"] == kind)
            .unwrap()
    }

    /// kubectl's rollout status logic for Deployments: done when the
    /// generation is observed and every replica is updated and available.
    fn rollout_complete(deployment: &Value, status: &Value) -> bool {
        let number = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
        status["observedGeneration"].as_i64() >= deployment["metadata"]["generation"].as_i64()
            && number("updatedReplicas") >= spec_replicas(deployment)
            && number("replicas") <= number("updatedReplicas")
            && number("availableReplicas") >= number("updatedReplicas")
    }

    #[test]
    fn operator_config_default_names_operator_and_label() {
        let config = OperatorConfig::default();
        assert_eq!(config.operator_deployment, "tsb-operator-management-plane");
        assert_eq!(
            config.managed_label,
            (
                "app.kubernetes.io/managed-by".to_string(),
                "tsb-operator".to_string()
            )
        );
    }

    #[test]
    fn scale_up_reports_new_count_but_old_ready_until_delay() {
        let scaled = deployment("tsb", 3, settled(1));
        let during = next_deployment_status(&scaled, Duration::from_millis(500), DELAY).unwrap();
        assert_eq!(during["replicas"], 3);
        assert_eq!(during["updatedReplicas"], 3);
        assert_eq!(during["readyReplicas"], 1);
        assert_eq!(during["availableReplicas"], 1);
        assert_eq!(during["unavailableReplicas"], 2);
        assert_eq!(during["observedGeneration"], 3);
        assert_eq!(condition_of(&during, "Available")["status"], "False");
        assert_eq!(
            condition_of(&during, "Progressing")["reason"],
            "ReplicaSetUpdated"
        );
        assert!(!rollout_complete(&scaled, &during));

        let still = deployment("tsb", 3, during.clone());
        assert_eq!(
            next_deployment_status(&still, Duration::from_millis(900), DELAY),
            None,
            "nothing changes until the delay has passed"
        );

        let done = next_deployment_status(&still, DELAY, DELAY).unwrap();
        assert_eq!(done["readyReplicas"], 3);
        assert_eq!(done["availableReplicas"], 3);
        assert!(done.get("unavailableReplicas").is_none());
        assert_eq!(condition_of(&done, "Available")["status"], "True");
        let progressing = condition_of(&done, "Progressing");
        assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
        assert!(
            progressing["message"]
                .as_str()
                .unwrap()
                .starts_with("ReplicaSet \"tsb-")
        );
        assert!(rollout_complete(&still, &done));
    }

    #[test]
    fn scale_down_shows_at_once_and_zero_counts_are_omitted() {
        let scaled = deployment("tsb", 0, settled(2));
        let status = next_deployment_status(&scaled, Duration::ZERO, DELAY).unwrap();
        for field in [
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
        ] {
            assert!(
                status.get(field).is_none(),
                "{field} should be omitted at 0"
            );
        }
        assert_eq!(condition_of(&status, "Available")["status"], "True");
        assert!(rollout_complete(&scaled, &status));

        let partly = deployment("tsb", 1, settled(2));
        let status = next_deployment_status(&partly, Duration::ZERO, DELAY).unwrap();
        assert_eq!(status["readyReplicas"], 1);
        assert_eq!(status["replicas"], 1);
    }

    #[test]
    fn settled_status_needs_no_update() {
        let steady = deployment("tsb", 2, settled(2));
        assert_eq!(next_deployment_status(&steady, DELAY * 10, DELAY), None);
    }

    #[test]
    fn new_generation_is_observed_at_once() {
        let mut bumped = deployment("tsb", 2, settled(2));
        bumped["metadata"]["generation"] = json!(4);
        let status = next_deployment_status(&bumped, Duration::ZERO, DELAY).unwrap();
        assert_eq!(status["observedGeneration"], 4);
        assert_eq!(status["readyReplicas"], 2);
    }

    #[test]
    fn fresh_deployment_without_status_is_unready_until_delay() {
        let fresh = deployment("iam", 1, Value::Null);
        let status = next_deployment_status(&fresh, Duration::ZERO, DELAY).unwrap();
        assert!(status.get("readyReplicas").is_none());
        assert_eq!(status["replicas"], 1);
        assert_eq!(condition_of(&status, "Available")["status"], "False");
    }

    #[test]
    fn availability_honours_max_unavailable() {
        // 4 replicas with the default 25% may have one unavailable.
        let scaled = deployment("tsb", 4, settled(3));
        let status = next_deployment_status(&scaled, Duration::ZERO, DELAY).unwrap();
        assert_eq!(status["readyReplicas"], 3);
        assert_eq!(condition_of(&status, "Available")["status"], "True");
        assert_eq!(
            condition_of(&status, "Progressing")["reason"],
            "ReplicaSetUpdated"
        );

        let mut recreate = scaled.clone();
        recreate["spec"]["strategy"] = json!({"type": "Recreate"});
        let status = next_deployment_status(&recreate, Duration::ZERO, DELAY).unwrap();
        assert_eq!(condition_of(&status, "Available")["status"], "False");

        let mut absolute = scaled.clone();
        absolute["spec"]["strategy"] = json!({"rollingUpdate": {"maxUnavailable": 0}});
        let status = next_deployment_status(&absolute, Duration::ZERO, DELAY).unwrap();
        assert_eq!(condition_of(&status, "Available")["status"], "False");
    }

    #[test]
    fn condition_timestamps_survive_unchanged_and_transition_on_flip() {
        let mut base = settled(1);
        for condition in base["conditions"].as_array_mut().unwrap() {
            condition["lastUpdateTime"] = json!("2020-01-01T00:00:00Z");
            condition["lastTransitionTime"] = json!("2020-01-01T00:00:00Z");
        }
        let scaled = deployment("tsb", 2, base);
        let status = next_deployment_status(&scaled, Duration::ZERO, DELAY).unwrap();
        let available = condition_of(&status, "Available");
        assert_eq!(available["status"], "False");
        assert_ne!(available["lastTransitionTime"], "2020-01-01T00:00:00Z");
        let progressing = condition_of(&status, "Progressing");
        assert_eq!(progressing["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_ne!(progressing["lastUpdateTime"], "2020-01-01T00:00:00Z");
    }

    fn namespace(operator_replicas: i64, operator_ready: i64, tsb: i64, envoy: i64) -> Vec<Value> {
        let mut operator = deployment(
            OPERATOR_DEPLOYMENT,
            operator_replicas,
            json!({"readyReplicas": operator_ready}),
        );
        operator["metadata"]["labels"] = json!({"name": "tsb-operator"});
        let mut envoy_deployment = deployment("envoy", envoy, json!({}));
        envoy_deployment["metadata"]["annotations"] = json!({DESIRED_REPLICAS_ANNOTATION: "2"});
        let mut unmanaged = deployment("postgres", 0, json!({}));
        unmanaged["metadata"]["labels"] = json!({"app": "postgres"});
        vec![
            operator,
            deployment("tsb", tsb, json!({})),
            envoy_deployment,
            unmanaged,
        ]
    }

    #[test]
    fn running_operator_scales_managed_deployments_back_to_desired() {
        let corrections = operator_corrections(&namespace(1, 1, 0, 1), &OperatorConfig::default());
        assert_eq!(
            corrections,
            [("tsb".to_string(), 1), ("envoy".to_string(), 2)],
            "unmanaged postgres stays at 0"
        );
    }

    #[test]
    fn stopped_or_unready_operator_corrects_nothing() {
        let config = OperatorConfig::default();
        assert!(operator_corrections(&namespace(0, 1, 0, 0), &config).is_empty());
        assert!(operator_corrections(&namespace(1, 0, 0, 0), &config).is_empty());
        let without_operator: Vec<Value> = namespace(1, 1, 0, 0).into_iter().skip(1).collect();
        assert!(operator_corrections(&without_operator, &config).is_empty());
    }

    #[test]
    fn deployments_at_or_above_desired_are_left_alone() {
        let corrections = operator_corrections(&namespace(1, 1, 3, 2), &OperatorConfig::default());
        assert!(corrections.is_empty());
    }

    #[test]
    fn invalid_desired_annotation_falls_back_to_one() {
        let mut deployments = namespace(1, 1, 1, 0);
        deployments[2]["metadata"]["annotations"] = json!({DESIRED_REPLICAS_ANNOTATION: "lots"});
        let corrections = operator_corrections(&deployments, &OperatorConfig::default());
        assert_eq!(corrections, [("envoy".to_string(), 1)]);
    }
}
