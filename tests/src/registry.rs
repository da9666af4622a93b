//! The resource types a cluster serves (built-in and from CRDs), and the
//! documents clients discover them with: `/api`, `/apis`, the per
//! group-version resource lists and `/openapi/v3`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::store::ResourceId;

const ALL_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One served resource at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// "" for the core group.
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub scale_subresource: bool,
    /// Keeps `metadata.generation` (workloads, CRDs and custom resources).
    pub tracks_generation: bool,
    /// A review (SelfSubjectReview, SelfSubjectAccessReview): only `create`,
    /// answered at once and never stored.
    pub review: bool,
    /// The CRD that defines it; None for built-ins. Custom resources get no
    /// strategic merge patch, like on a real server.
    pub defined_by: Option<String>,
}

impl ResourceType {
    pub fn id(&self) -> ResourceId {
        ResourceId::new(&self.group, &self.plural)
    }

    pub fn api_version(&self) -> String {
        group_version(&self.group, &self.version)
    }

    /// How error messages name the resource: `secrets`, `deployments.apps`.
    pub fn qualified_name(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn is_custom(&self) -> bool {
        self.defined_by.is_some()
    }

    /// The URL prefix of this group-version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        group_version_path(&self.group, &self.version)
    }

    fn discovery_entries(&self) -> Vec<Value> {
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": if self.review { &["create"][..] } else { &ALL_VERBS[..] },
            "storageVersionHash": storage_version_hash(&self.api_version(), &self.kind),
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        let mut entries = vec![main];
        if self.scale_subresource {
            entries.push(json!({
                "name": format!("{}/scale", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if self.status_subresource {
            entries.push(json!({
                "name": format!("{}/status", self.plural),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": self.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
        entries
    }

    /// The OpenAPI v3 path items: kubectl finds the PATCH operation by its
    /// GVK extension and checks it takes `fieldValidation` before trusting
    /// the server with field validation.
    fn openapi_paths(&self, paths: &mut serde_json::Map<String, Value>) {
        let gvk = json!({"group": self.group, "version": self.version, "kind": self.kind});
        let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
        let path_param = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}});
        let operation = |action: &str, extra: &[&str]| {
            let mut parameters: Vec<Value> = extra.iter().map(|name| query(name)).collect();
            parameters.push(query("pretty"));
            json!({
                "operationId": format!("{action}{}", self.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
            })
        };
        let write_params = ["dryRun", "fieldManager", "fieldValidation"];
        let patch_params = ["dryRun", "fieldManager", "fieldValidation", "force"];
        let mut scope_params = Vec::new();
        let collection = if self.namespaced {
            scope_params.push(path_param("namespace"));
            format!(
                "{}/namespaces/{{namespace}}/{}",
                self.group_version_path(),
                self.plural
            )
        } else {
            format!("{}/{}", self.group_version_path(), self.plural)
        };
        let mut item_params = scope_params.clone();
        item_params.push(path_param("name"));
        paths.insert(
            collection.clone(),
            json!({
                "get": operation("list", &["labelSelector", "fieldSelector", "limit", "continue", "watch"]),
                "post": operation("post", &write_params),
                "delete": operation("deletecollection", &["dryRun"]),
                "parameters": scope_params,
            }),
        );
        let item = format!("{collection}/{{name}}");
        paths.insert(
            item.clone(),
            json!({
                "get": operation("get", &[]),
                "put": operation("put", &write_params),
                "patch": operation("patch", &patch_params),
                "delete": operation("delete", &["dryRun"]),
                "parameters": item_params,
            }),
        );
        if self.status_subresource {
            paths.insert(
                format!("{item}/status"),
                json!({
                    "get": operation("get", &[]),
                    "put": operation("put", &write_params),
                    "patch": operation("patch", &patch_params),
                    "parameters": item_params,
                }),
            );
        }
    }
}

/// `v1` for the core group, else `group/version`.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

pub fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

fn storage_version_hash(api_version: &str, kind: &str) -> String {
    let digest = Sha256::digest(format!("{api_version}/{kind}"));
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &digest[..8])
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    in_category_all: bool,
    status: bool,
    scale: bool,
    tracks_generation: bool,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        plural: "namespaces",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        in_category_all: false,
        status: true,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "secrets",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        in_category_all: false,
        status: false,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "configmaps",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        in_category_all: false,
        status: false,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "services",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        in_category_all: true,
        status: true,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        in_category_all: false,
        status: false,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "pods",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        in_category_all: true,
        status: true,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "events",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        in_category_all: false,
        status: false,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "apps",
        version: "v1",
        plural: "deployments",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        in_category_all: true,
        status: true,
        scale: true,
        tracks_generation: true,
    },
    Builtin {
        group: "batch",
        version: "v1",
        plural: "cronjobs",
        kind: "CronJob",
        namespaced: true,
        short_names: &["cj"],
        in_category_all: true,
        status: true,
        scale: false,
        tracks_generation: true,
    },
    Builtin {
        group: "batch",
        version: "v1",
        plural: "jobs",
        kind: "Job",
        namespaced: true,
        short_names: &[],
        in_category_all: true,
        status: true,
        scale: false,
        tracks_generation: true,
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        in_category_all: false,
        status: false,
        scale: false,
        tracks_generation: false,
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        in_category_all: false,
        status: true,
        scale: false,
        tracks_generation: true,
    },
];

impl From<&Builtin> for ResourceType {
    fn from(builtin: &Builtin) -> Self {
        ResourceType {
            group: builtin.group.into(),
            version: builtin.version.into(),
            plural: builtin.plural.into(),
            singular: builtin.kind.to_lowercase(),
            kind: builtin.kind.into(),
            list_kind: format!("{}List", builtin.kind),
            namespaced: builtin.namespaced,
            short_names: builtin.short_names.iter().map(|s| s.to_string()).collect(),
            categories: if builtin.in_category_all {
                vec!["all".into()]
            } else {
                Vec::new()
            },
            status_subresource: builtin.status,
            scale_subresource: builtin.scale,
            tracks_generation: builtin.tracks_generation,
            review: false,
            defined_by: None,
        }
    }
}

/// The resource types a CRD declares, one per served version.
pub fn types_from_crd(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let spec = &crd["spec"];
    let text = |value: &Value, what: &str| {
        value
            .as_str()
            .filter(|text| !text.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("spec.{what}: Required value"))
    };
    let group = text(&spec["group"], "group")?;
    let names = &spec["names"];
    let plural = text(&names["plural"], "names.plural")?;
    let kind = text(&names["kind"], "names.kind")?;
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = names["listKind"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => return Err("spec.scope: Unsupported value: must be Namespaced or Cluster".into()),
    };
    let expected_name = format!("{plural}.{group}");
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if name != expected_name {
        return Err(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let versions = spec["versions"]
        .as_array()
        .filter(|versions| !versions.is_empty())
        .ok_or(
            "spec.versions: Invalid value: must have exactly one version marked as storage version",
        )?;
    Ok(versions
        .iter()
        .filter(|version| version["served"].as_bool().unwrap_or(true))
        .filter_map(|version| {
            let subresources = &version["subresources"];
            Some(ResourceType {
                group: group.clone(),
                version: version["name"].as_str()?.to_string(),
                plural: plural.clone(),
                singular: singular.clone(),
                kind: kind.clone(),
                list_kind: list_kind.clone(),
                namespaced,
                short_names: strings(&names["shortNames"]),
                categories: strings(&names["categories"]),
                status_subresource: subresources.get("status").is_some(),
                scale_subresource: false,
                tracks_generation: true,
                review: false,
                defined_by: Some(expected_name.clone()),
            })
        })
        .collect())
}

/// The types a cluster serves. Lookups are frequent, changes (CRDs) rare.
pub struct Registry {
    types: RwLock<Vec<Arc<ResourceType>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// The built-in types.
    pub fn new() -> Self {
        let review = |group: &str, plural: &str, kind: &str| ResourceType {
            group: group.into(),
            version: "v1".into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            namespaced: false,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: false,
            scale_subresource: false,
            tracks_generation: false,
            review: true,
            defined_by: None,
        };
        let reviews = [
            review(
                "authentication.k8s.io",
                "selfsubjectreviews",
                "SelfSubjectReview",
            ),
            review(
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "SelfSubjectAccessReview",
            ),
        ];
        Registry {
            types: RwLock::new(
                BUILTINS
                    .iter()
                    .map(ResourceType::from)
                    .chain(reviews)
                    .map(Arc::new)
                    .collect(),
            ),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Vec<Arc<ResourceType>>> {
        self.types
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Vec<Arc<ResourceType>>> {
        self.types
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.read()
            .iter()
            .find(|found| {
                found.group == group && found.version == version && found.plural == plural
            })
            .cloned()
    }

    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.read()
            .iter()
            .find(|found| found.group == group && found.version == version && found.kind == kind)
            .cloned()
    }

    /// Serves the CRD's types (replacing those it served before).
    pub fn register_crd(&self, crd: &Value) -> Result<Vec<ResourceType>, String> {
        let new_types = types_from_crd(crd)?;
        let crd_name = crd["metadata"]["name"].as_str().unwrap_or_default();
        let mut types = self.write();
        types.retain(|existing| existing.defined_by.as_deref() != Some(crd_name));
        types.extend(new_types.iter().cloned().map(Arc::new));
        Ok(new_types)
    }

    /// Stops serving a CRD's types; returns the resource they were stored as.
    pub fn unregister_crd(&self, crd_name: &str) -> Option<ResourceId> {
        let mut types = self.write();
        let removed = types
            .iter()
            .find(|existing| existing.defined_by.as_deref() == Some(crd_name))
            .map(|existing| existing.id());
        types.retain(|existing| existing.defined_by.as_deref() != Some(crd_name));
        removed
    }

    /// Group-versions in serving order: (group, [versions]).
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for found in self.read().iter() {
            match groups.iter_mut().find(|(group, _)| *group == found.group) {
                Some((_, versions)) => {
                    if !versions.contains(&found.version) {
                        versions.push(found.version.clone());
                    }
                }
                None => groups.push((found.group.clone(), vec![found.version.clone()])),
            }
        }
        groups
    }

    /// `GET /api`.
    pub fn core_versions(&self, server_address: &str) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        })
    }

    /// `GET /apis`.
    pub fn group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .into_iter()
            .filter(|(group, _)| !group.is_empty())
            .map(|(group, versions)| {
                let entries: Vec<Value> = versions
                    .iter()
                    .map(|version| json!({"groupVersion": format!("{group}/{version}"), "version": version}))
                    .collect();
                json!({"name": group, "versions": entries, "preferredVersion": entries[0]})
            })
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `GET /apis/GROUP`, or None for an unknown group.
    pub fn group(&self, group: &str) -> Option<Value> {
        let list = self.group_list();
        let found = list["groups"]
            .as_array()?
            .iter()
            .find(|entry| entry["name"] == group)?
            .clone();
        let mut found = found;
        found["kind"] = json!("APIGroup");
        found["apiVersion"] = json!("v1");
        Some(found)
    }

    /// `GET /api/v1` or `/apis/GROUP/VERSION`, or None when not served.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let resources: Vec<Value> = self
            .read()
            .iter()
            .filter(|found| found.group == group && found.version == version)
            .flat_map(|found| found.discovery_entries())
            .collect();
        if resources.is_empty() {
            return None;
        }
        Some(json!({
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version(group, version),
            "resources": resources,
        }))
    }

    /// `GET /openapi/v3/api/v1`, `/openapi/v3/apis/G/V`: `relative` is the
    /// part after `/openapi/v3/`.
    pub fn openapi_document(&self, relative: &str) -> Option<Value> {
        let (group, version) = match relative.split('/').collect::<Vec<_>>()[..] {
            ["api", version] => ("", version),
            ["apis", group, version] => (group, version),
            _ => return None,
        };
        let mut paths = serde_json::Map::new();
        for found in self
            .read()
            .iter()
            .filter(|found| found.group == group && found.version == version && !found.review)
        {
            found.openapi_paths(&mut paths);
        }
        if paths.is_empty() {
            return None;
        }
        Some(json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": crate::server::GIT_VERSION},
            "paths": paths,
            "components": {"schemas": {}},
        }))
    }

    /// `GET /openapi/v3`: every group-version with a content hash, so
    /// clients' caches notice when CRDs change.
    pub fn openapi_index(&self) -> Value {
        let mut paths = BTreeMap::new();
        for (group, versions) in self.groups() {
            for version in versions {
                let relative = group_version_path(&group, &version)
                    .trim_start_matches('/')
                    .to_string();
                // Review-only group-versions have no document to offer.
                let Some(document) = self.openapi_document(&relative) else {
                    continue;
                };
                let digest = Sha256::digest(document.to_string());
                let hash: String = digest.iter().map(|byte| format!("{byte:02X}")).collect();
                paths.insert(
                    relative.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{relative}?hash={hash}")}),
                );
            }
        }
        json!({"paths": paths})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "managementplanes.install.tetrate.io"},
            "spec": {
                "group": "install.tetrate.io",
                "scope": "Namespaced",
                "names": {"plural": "managementplanes", "singular": "managementplane",
                          "kind": "ManagementPlane", "listKind": "ManagementPlaneList",
                          "shortNames": ["mp"]},
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                              "subresources": {"status": {}}}],
            },
        })
    }

    #[test]
    fn builtins_are_discoverable_with_short_names_and_subresources() {
        let registry = Registry::new();
        let core = registry.resource_list("", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"secrets") && names.contains(&"namespaces"));
        let apps = registry.resource_list("apps", "v1").unwrap();
        let resources = apps["resources"].as_array().unwrap();
        let deployments = &resources[0];
        assert_eq!(deployments["shortNames"], json!(["deploy"]));
        assert_eq!(deployments["categories"], json!(["all"]));
        assert!(
            resources
                .iter()
                .any(|entry| entry["name"] == "deployments/scale"
                    && entry["group"] == "autoscaling"
                    && entry["kind"] == "Scale")
        );
        assert!(
            resources
                .iter()
                .any(|entry| entry["name"] == "deployments/status")
        );
        assert_eq!(
            registry
                .find("apps", "v1", "deployments")
                .unwrap()
                .qualified_name(),
            "deployments.apps"
        );
        assert!(registry.resource_list("nothing.io", "v1").is_none());
    }

    #[test]
    fn group_list_names_every_non_core_group() {
        let registry = Registry::new();
        let list = registry.group_list();
        let groups: Vec<&str> = list["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|group| group["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            groups,
            [
                "apps",
                "batch",
                "coordination.k8s.io",
                "apiextensions.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io"
            ]
        );
        let reviews = registry
            .resource_list("authorization.k8s.io", "v1")
            .unwrap();
        assert_eq!(reviews["resources"][0]["verbs"], json!(["create"]));
        assert!(
            registry.openapi_index()["paths"]
                .get("apis/authorization.k8s.io/v1")
                .is_none()
        );
        assert_eq!(
            list["groups"][0]["preferredVersion"]["groupVersion"],
            "apps/v1"
        );
        assert_eq!(registry.group("batch").unwrap()["kind"], "APIGroup");
    }

    #[test]
    fn crds_register_and_unregister_their_types() {
        let registry = Registry::new();
        let types = registry.register_crd(&crd()).unwrap();
        assert_eq!(types.len(), 1);
        let found = registry
            .find("install.tetrate.io", "v1alpha1", "managementplanes")
            .unwrap();
        assert!(found.namespaced && found.status_subresource && found.is_custom());
        assert_eq!(found.short_names, ["mp"]);
        assert!(
            registry
                .resource_list("install.tetrate.io", "v1alpha1")
                .is_some()
        );
        assert_eq!(
            registry.unregister_crd("managementplanes.install.tetrate.io"),
            Some(ResourceId::new("install.tetrate.io", "managementplanes"))
        );
        assert!(
            registry
                .find("install.tetrate.io", "v1alpha1", "managementplanes")
                .is_none()
        );
    }

    #[test]
    fn crd_validation_rejects_mismatched_names() {
        let mut bad = crd();
        bad["metadata"]["name"] = json!("wrong");
        assert!(types_from_crd(&bad).unwrap_err().contains("metadata.name"));
        let mut no_scope = crd();
        no_scope["spec"]["scope"] = json!("Galaxy");
        assert!(types_from_crd(&no_scope).is_err());
    }

    #[test]
    fn openapi_documents_advertise_field_validation_on_patch() {
        let registry = Registry::new();
        let index = registry.openapi_index();
        let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/openapi/v3/apis/apps/v1?hash="));
        assert!(index["paths"]["api/v1"].is_object());
        let document = registry.openapi_document("apis/apps/v1").unwrap();
        let patch =
            &document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "version": "v1", "kind": "Deployment"})
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|parameter| parameter["name"] == "fieldValidation"
                    && parameter["in"] == "query")
        );
        assert!(registry.openapi_document("apis/none/v1").is_none());
        let namespaces = registry.openapi_document("api/v1").unwrap();
        assert!(namespaces["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
    }
}
