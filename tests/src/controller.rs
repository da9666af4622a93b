//! The TSB operator's behaviour that matters to a failover, as a pure
//! function [`crate::live`] applies to a real cluster: while the operator's
//! own Deployment runs, it scales the MP deployments back up.

use serde_json::Value;

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
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
