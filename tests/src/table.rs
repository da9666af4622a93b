//! `meta.k8s.io/v1` Table responses, asked for by kubectl get with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
//!
//! Columns and cell formats follow the API server's built-in printers, so
//! `kubectl get` output looks like it does against a real cluster.

use serde_json::{Map, Value, json};

/// What a Table row carries in `object` (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    None,
    #[default]
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// A Table for `objects` of `kind` (columns chosen per kind; Name and Age
/// for any kind without its own). `resource_version` goes in the list meta.
pub fn table(
    kind: &str,
    objects: &[Value],
    include: IncludeObject,
    resource_version: &str,
) -> Value {
    table_at(
        kind,
        objects,
        include,
        resource_version,
        jiff::Timestamp::now(),
    )
}

/// [`table`] with ages computed against `now`, for deterministic output.
pub fn table_at(
    kind: &str,
    objects: &[Value],
    include: IncludeObject,
    resource_version: &str,
    now: jiff::Timestamp,
) -> Value {
    let columns = columns(kind);
    let column_definitions: Vec<Value> = columns
        .iter()
        .map(|column| {
            json!({
                "name": column.name,
                "type": column.kind,
                "format": if column.name == "Name" { "name" } else { "" },
                "description": column.description,
                "priority": 0,
            })
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|object| {
            let cells: Vec<Value> = columns
                .iter()
                .map(|column| (column.cell)(object, now))
                .collect();
            let mut row = Map::new();
            row.insert("cells".to_string(), Value::Array(cells));
            match include {
                IncludeObject::None => {}
                IncludeObject::Metadata => {
                    row.insert("object".to_string(), partial_object_metadata(object));
                }
                IncludeObject::Object => {
                    row.insert("object".to_string(), object.clone());
                }
            }
            Value::Object(row)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions,
        "rows": rows,
    })
}

fn partial_object_metadata(object: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

struct Column {
    name: &'static str,
    /// The OpenAPI type kubectl uses to align the column.
    kind: &'static str,
    description: &'static str,
    cell: fn(&Value, jiff::Timestamp) -> Value,
}

const NAME: Column = Column {
    name: "Name",
    kind: "string",
    description: "Name must be unique within a namespace.",
    cell: |object, _| text(object, "/metadata/name"),
};

const AGE: Column = Column {
    name: "Age",
    kind: "string",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
    cell: |object, now| Value::String(age(object.pointer("/metadata/creationTimestamp"), now)),
};

fn columns(kind: &str) -> Vec<Column> {
    match kind {
        "Namespace" => vec![
            NAME,
            Column {
                name: "Status",
                kind: "string",
                description: "The status of the namespace",
                cell: |object, _| text(object, "/status/phase"),
            },
            AGE,
        ],
        "Secret" => vec![
            NAME,
            Column {
                name: "Type",
                kind: "string",
                description: "Used to facilitate programmatic handling of secret data.",
                cell: |object, _| text(object, "/type"),
            },
            Column {
                name: "Data",
                kind: "integer",
                description: "Number of data keys in the secret",
                cell: |object, _| key_count(object, "/data").into(),
            },
            AGE,
        ],
        "ConfigMap" => vec![
            NAME,
            Column {
                name: "Data",
                kind: "integer",
                description: "Number of data keys in the config map",
                cell: |object, _| {
                    (key_count(object, "/data") + key_count(object, "/binaryData")).into()
                },
            },
            AGE,
        ],
        "Deployment" => vec![
            NAME,
            Column {
                name: "Ready",
                kind: "string",
                description: "Number of the pod with ready state",
                cell: |object, _| {
                    // An unset spec.replicas defaults to 1 in the API server.
                    let desired = integer(object, "/spec/replicas").unwrap_or(1);
                    let ready = integer(object, "/status/readyReplicas").unwrap_or(0);
                    Value::String(format!("{ready}/{desired}"))
                },
            },
            Column {
                name: "Up-to-date",
                kind: "integer",
                description: "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                cell: |object, _| {
                    integer(object, "/status/updatedReplicas")
                        .unwrap_or(0)
                        .into()
                },
            },
            Column {
                name: "Available",
                kind: "integer",
                description: "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                cell: |object, _| {
                    integer(object, "/status/availableReplicas")
                        .unwrap_or(0)
                        .into()
                },
            },
            AGE,
        ],
        "Service" => vec![
            NAME,
            Column {
                name: "Type",
                kind: "string",
                description: "type determines how the Service is exposed.",
                cell: |object, _| Value::String(service_type(object).to_string()),
            },
            Column {
                name: "Cluster-IP",
                kind: "string",
                description: "clusterIP is the IP address of the service and is usually assigned randomly.",
                cell: |object, _| Value::String(cluster_ip(object)),
            },
            Column {
                name: "External-IP",
                kind: "string",
                description: "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                cell: |object, _| Value::String(external_ip(object)),
            },
            Column {
                name: "Port(s)",
                kind: "string",
                description: "The list of ports that are exposed by this service.",
                cell: |object, _| Value::String(ports(object)),
            },
            AGE,
        ],
        "Lease" => vec![
            NAME,
            Column {
                name: "Holder",
                kind: "string",
                description: "The holder of the lease",
                cell: |object, _| text(object, "/spec/holderIdentity"),
            },
            AGE,
        ],
        "CronJob" => vec![
            NAME,
            Column {
                name: "Schedule",
                kind: "string",
                description: "The schedule in Cron format",
                cell: |object, _| text(object, "/spec/schedule"),
            },
            Column {
                name: "Timezone",
                kind: "string",
                description: "The time zone name for the given schedule",
                cell: |object, _| or_none(object.pointer("/spec/timeZone").and_then(Value::as_str)),
            },
            Column {
                name: "Suspend",
                kind: "boolean",
                description: "This flag tells the controller to suspend subsequent executions",
                cell: |object, _| {
                    let cell = match object.pointer("/spec/suspend").and_then(Value::as_bool) {
                        Some(true) => "True",
                        Some(false) => "False",
                        None => "<unset>",
                    };
                    Value::String(cell.to_string())
                },
            },
            Column {
                name: "Active",
                kind: "integer",
                description: "A list of pointers to currently running jobs.",
                cell: |object, _| {
                    let active = object.pointer("/status/active").and_then(Value::as_array);
                    active.map_or(0, Vec::len).into()
                },
            },
            Column {
                name: "Last Schedule",
                kind: "string",
                description: "Information when was the last time the job was successfully scheduled.",
                cell: |object, now| match object.pointer("/status/lastScheduleTime") {
                    Some(stamp @ Value::String(_)) => Value::String(age(Some(stamp), now)),
                    _ => Value::String("<none>".to_string()),
                },
            },
            AGE,
        ],
        "CustomResourceDefinition" => vec![
            NAME,
            Column {
                name: "Created At",
                kind: "date",
                description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
                cell: |object, _| text(object, "/metadata/creationTimestamp"),
            },
        ],
        _ => vec![NAME, AGE],
    }
}

fn text(object: &Value, pointer: &str) -> Value {
    let value = object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default();
    Value::String(value.to_string())
}

fn or_none(value: Option<&str>) -> Value {
    Value::String(
        value
            .filter(|value| !value.is_empty())
            .unwrap_or("<none>")
            .to_string(),
    )
}

fn integer(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn key_count(object: &Value, pointer: &str) -> usize {
    object
        .pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, Map::len)
}

fn service_type(service: &Value) -> &str {
    service
        .pointer("/spec/type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
}

fn strings_at<'a>(object: &'a Value, pointer: &str) -> Vec<&'a str> {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn cluster_ip(service: &Value) -> String {
    let first_of_list = strings_at(service, "/spec/clusterIPs").first().copied();
    let single = service.pointer("/spec/clusterIP").and_then(Value::as_str);
    first_of_list
        .or(single)
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>")
        .to_string()
}

fn external_ip(service: &Value) -> String {
    let external_ips = strings_at(service, "/spec/externalIPs");
    match service_type(service) {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let ingress = service
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .map(|entries| {
                    entries
                        .iter()
                        .filter_map(|entry| {
                            let ip = entry
                                .get("ip")
                                .and_then(Value::as_str)
                                .filter(|ip| !ip.is_empty());
                            ip.or_else(|| entry.get("hostname").and_then(Value::as_str))
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            let addresses: Vec<&str> = ingress.into_iter().chain(external_ips).collect();
            if addresses.is_empty() {
                "<pending>".to_string()
            } else {
                addresses.join(",")
            }
        }
        "ExternalName" => service
            .pointer("/spec/externalName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => "<unknown>".to_string(),
    }
}

/// `443/TCP`, or `443:30443/TCP` with a node port; `<none>` without ports.
fn ports(service: &Value) -> String {
    let Some(ports) = service.pointer("/spec/ports").and_then(Value::as_array) else {
        return "<none>".to_string();
    };
    if ports.is_empty() {
        return "<none>".to_string();
    }
    ports
        .iter()
        .map(|port| {
            let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
            let protocol = port
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("TCP");
            match port.get("nodePort").and_then(Value::as_i64) {
                Some(node_port) if node_port != 0 => format!("{number}:{node_port}/{protocol}"),
                _ => format!("{number}/{protocol}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// kubectl's age of a timestamp: `<unknown>` when unset or unreadable.
fn age(stamp: Option<&Value>, now: jiff::Timestamp) -> String {
    let parsed = stamp
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<jiff::Timestamp>().ok());
    match parsed {
        Some(created) => human_duration(now.as_second() - created.as_second()),
        None => "<unknown>".to_string(),
    }
}

/// The short durations `kubectl get` prints (apimachinery's
/// `duration.HumanDuration`): two units of precision while the larger one
/// is small, one unit after that.
pub fn human_duration(seconds: i64) -> String {
    // Up to a second of clock skew reads as "now".
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with_remainder(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if hours < 24 * 365 * 8 {
        return with_remainder(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-25T12:00:00Z";

    fn now() -> jiff::Timestamp {
        NOW.parse().unwrap()
    }

    fn created(seconds_ago: i64) -> String {
        let stamp = now().as_second() - seconds_ago;
        jiff::Timestamp::from_second(stamp).unwrap().to_string()
    }

    fn cells(kind: &str, object: Value) -> Vec<Value> {
        let table = table_at(kind, &[object], IncludeObject::None, "1", now());
        table["rows"][0]["cells"].as_array().unwrap().clone()
    }

    fn column_names(kind: &str) -> Vec<String> {
        let table = table_at(kind, &[], IncludeObject::None, "1", now());
        table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|column| column["name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn include_object_parses_the_three_values_and_defaults_to_metadata() {
        assert_eq!(IncludeObject::parse(Some("Object")), IncludeObject::Object);
        assert_eq!(
            IncludeObject::parse(Some("Metadata")),
            IncludeObject::Metadata
        );
        assert_eq!(IncludeObject::parse(Some("None")), IncludeObject::None);
        assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
    }

    #[test]
    fn human_duration_matches_kubectl() {
        for (seconds, expected) in [
            (-5, "<invalid>"),
            (-1, "0s"),
            (45, "45s"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (599, "9m59s"),
            (720, "12m"),
            (179 * 60, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 20 * 60, "5h20m"),
            (20 * 3600, "20h"),
            (3 * 86400, "3d"),
            (3 * 86400 + 5 * 3600, "3d5h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400 + 10 * 86400, "3y10d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }

    #[test]
    fn table_envelope_and_column_definitions() {
        let table = table_at("Namespace", &[], IncludeObject::Metadata, "42", now());
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(table["metadata"]["resourceVersion"], "42");
        assert_eq!(table["rows"], json!([]));
        let name = &table["columnDefinitions"][0];
        assert_eq!(name["name"], "Name");
        assert_eq!(name["format"], "name");
        assert_eq!(name["priority"], 0);
        assert_eq!(table["columnDefinitions"][1]["format"], "");
    }

    #[test]
    fn rows_carry_partial_metadata_full_object_or_nothing() {
        let object = json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "tsb"}, "status": {"phase": "Active"}});
        let objects = [object.clone()];
        let metadata = table_at("Namespace", &objects, IncludeObject::Metadata, "1", now());
        assert_eq!(
            metadata["rows"][0]["object"],
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": {"name": "tsb"}})
        );
        let full = table_at("Namespace", &objects, IncludeObject::Object, "1", now());
        assert_eq!(full["rows"][0]["object"], object);
        let none = table_at("Namespace", &objects, IncludeObject::None, "1", now());
        assert!(none["rows"][0].get("object").is_none());
    }

    #[test]
    fn namespace_row() {
        assert_eq!(column_names("Namespace"), ["Name", "Status", "Age"]);
        let row = cells(
            "Namespace",
            json!({"metadata": {"name": "tsb", "creationTimestamp": created(45)}, "status": {"phase": "Active"}}),
        );
        assert_eq!(row, [json!("tsb"), json!("Active"), json!("45s")]);
    }

    #[test]
    fn secret_row_counts_data_keys() {
        assert_eq!(column_names("Secret"), ["Name", "Type", "Data", "Age"]);
        let row = cells(
            "Secret",
            json!({"metadata": {"name": "certs", "creationTimestamp": created(150)}, "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": "", "ca.crt": ""}}),
        );
        assert_eq!(
            row,
            [
                json!("certs"),
                json!("kubernetes.io/tls"),
                json!(3),
                json!("2m30s")
            ]
        );
    }

    #[test]
    fn config_map_row_counts_data_and_binary_data() {
        assert_eq!(column_names("ConfigMap"), ["Name", "Data", "Age"]);
        let row = cells(
            "ConfigMap",
            json!({"metadata": {"name": "cfg", "creationTimestamp": created(5 * 3600)}, "data": {"a": "1"}, "binaryData": {"b": "AA=="}}),
        );
        assert_eq!(row, [json!("cfg"), json!(2), json!("5h")]);
    }

    #[test]
    fn deployment_row_shows_ready_over_desired() {
        assert_eq!(
            column_names("Deployment"),
            ["Name", "Ready", "Up-to-date", "Available", "Age"]
        );
        let row = cells(
            "Deployment",
            json!({
                "metadata": {"name": "tsb-operator", "creationTimestamp": created(3 * 86400)},
                "spec": {"replicas": 3},
                "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
            }),
        );
        assert_eq!(
            row,
            [
                json!("tsb-operator"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("3d")
            ]
        );
        let scaled_down = cells(
            "Deployment",
            json!({"metadata": {"name": "x"}, "spec": {"replicas": 0}, "status": {}}),
        );
        assert_eq!(
            scaled_down,
            [
                json!("x"),
                json!("0/0"),
                json!(0),
                json!(0),
                json!("<unknown>")
            ]
        );
    }

    #[test]
    fn service_rows_show_type_ips_and_ports() {
        assert_eq!(
            column_names("Service"),
            [
                "Name",
                "Type",
                "Cluster-IP",
                "External-IP",
                "Port(s)",
                "Age"
            ]
        );
        let load_balancer = json!({
            "metadata": {"name": "envoy", "creationTimestamp": created(720)},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"],
                     "ports": [{"port": 8443, "protocol": "TCP", "nodePort": 30443}, {"port": 9443, "protocol": "TCP"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
        });
        assert_eq!(
            cells("Service", load_balancer),
            [
                json!("envoy"),
                json!("LoadBalancer"),
                json!("10.0.0.7"),
                json!("203.0.113.10"),
                json!("8443:30443/TCP,9443/TCP"),
                json!("12m")
            ]
        );
        let pending = json!({"metadata": {"name": "p"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.8", "ports": [{"port": 8443, "protocol": "TCP"}]}, "status": {}});
        assert_eq!(cells("Service", pending)[3], json!("<pending>"));
        let cluster_ip = json!({"metadata": {"name": "c"}, "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.9", "ports": [{"port": 443, "protocol": "TCP"}]}});
        let row = cells("Service", cluster_ip);
        assert_eq!(row[3], json!("<none>"));
        assert_eq!(row[4], json!("443/TCP"));
        let headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}});
        let row = cells("Service", headless);
        assert_eq!(
            row[1..5],
            [
                json!("ClusterIP"),
                json!("None"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn node_port_external_name_and_external_ip_services() {
        let node_port = json!({"metadata": {"name": "np"}, "spec": {"type": "NodePort", "clusterIP": "10.0.0.1",
            "externalIPs": ["198.51.100.1", "198.51.100.2"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "UDP"}]}});
        let row = cells("Service", node_port);
        assert_eq!(row[3], json!("198.51.100.1,198.51.100.2"));
        assert_eq!(row[4], json!("80:30080/UDP"));
        let external_name = json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "tsb.example.com"}});
        let row = cells("Service", external_name);
        assert_eq!(
            row[2..5],
            [json!("<none>"), json!("tsb.example.com"), json!("<none>")]
        );
        let hostname = json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.2"},
            "status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}});
        assert_eq!(cells("Service", hostname)[3], json!("lb.example.com"));
    }

    #[test]
    fn ages_in_the_future_and_unreadable_timestamps() {
        let skewed = json!({"metadata": {"name": "a", "creationTimestamp": created(-1)}});
        assert_eq!(cells("Pod", skewed)[1], json!("0s"));
        let future = json!({"metadata": {"name": "b", "creationTimestamp": created(-60)}});
        assert_eq!(cells("Pod", future)[1], json!("<invalid>"));
        let garbage = json!({"metadata": {"name": "c", "creationTimestamp": "yesterday"}});
        assert_eq!(cells("Pod", garbage)[1], json!("<unknown>"));
    }

    #[test]
    fn rows_keep_the_order_of_the_objects() {
        let objects = [
            json!({"metadata": {"name": "b"}}),
            json!({"metadata": {"name": "a"}}),
        ];
        let table = table_at("Secret", &objects, IncludeObject::None, "7", now());
        assert_eq!(table["rows"][0]["cells"][0], "b");
        assert_eq!(table["rows"][1]["cells"][0], "a");
        // Missing type and data read as empty, not as errors.
        assert_eq!(table["rows"][0]["cells"], json!(["b", "", 0, "<unknown>"]));
    }

    #[test]
    fn table_uses_the_current_time_for_ages() {
        let just_now = jiff::Timestamp::now().to_string();
        let objects = [json!({"metadata": {"name": "fresh", "creationTimestamp": just_now}})];
        let table = table("Namespace", &objects, IncludeObject::None, "1");
        let age = table["rows"][0]["cells"][2].as_str().unwrap().to_string();
        assert!(["0s", "1s", "2s"].contains(&age.as_str()), "{age}");
    }

    #[test]
    fn unknown_include_object_values_fall_back_to_metadata() {
        assert_eq!(
            IncludeObject::parse(Some("object")),
            IncludeObject::Metadata
        );
        assert_eq!(IncludeObject::parse(Some("")), IncludeObject::Metadata);
    }

    #[test]
    fn lease_row_shows_holder() {
        assert_eq!(column_names("Lease"), ["Name", "Holder", "Age"]);
        let row = cells(
            "Lease",
            json!({"metadata": {"name": "tsb-lock", "creationTimestamp": created(60)}, "spec": {"holderIdentity": "pod-1"}}),
        );
        assert_eq!(row, [json!("tsb-lock"), json!("pod-1"), json!("60s")]);
    }

    #[test]
    fn cron_job_row_shows_schedule_suspend_and_last_schedule() {
        assert_eq!(
            column_names("CronJob"),
            [
                "Name",
                "Schedule",
                "Timezone",
                "Suspend",
                "Active",
                "Last Schedule",
                "Age"
            ]
        );
        let row = cells(
            "CronJob",
            json!({
                "metadata": {"name": "backup", "creationTimestamp": created(10 * 86400)},
                "spec": {"schedule": "0 * * * *", "suspend": true},
                "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": created(300)}
            }),
        );
        assert_eq!(
            row,
            [
                json!("backup"),
                json!("0 * * * *"),
                json!("<none>"),
                json!("True"),
                json!(1),
                json!("5m"),
                json!("10d")
            ]
        );
        let never_run = cells(
            "CronJob",
            json!({"metadata": {"name": "b"}, "spec": {"schedule": "@daily", "timeZone": "Etc/UTC"}}),
        );
        assert_eq!(
            never_run[2..6],
            [
                json!("Etc/UTC"),
                json!("<unset>"),
                json!(0),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn custom_resource_definition_row_shows_creation_time() {
        assert_eq!(
            column_names("CustomResourceDefinition"),
            ["Name", "Created At"]
        );
        let row = cells(
            "CustomResourceDefinition",
            json!({"metadata": {"name": "managementplanes.install.tetrate.io", "creationTimestamp": "2026-01-02T03:04:05Z"}}),
        );
        assert_eq!(
            row,
            [
                json!("managementplanes.install.tetrate.io"),
                json!("2026-01-02T03:04:05Z")
            ]
        );
    }

    #[test]
    fn other_kinds_get_name_and_age() {
        assert_eq!(column_names("ManagementPlane"), ["Name", "Age"]);
        let row = cells(
            "ManagementPlane",
            json!({"metadata": {"name": "mp", "creationTimestamp": created(4 * 3600)}}),
        );
        assert_eq!(row, [json!("mp"), json!("4h")]);
    }
}
