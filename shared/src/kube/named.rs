//! Reading objects whose names are known: one GET per name, all at once,
//! so what a plugin reads follows the Management Plane, not how many other
//! objects share its namespace, and a Role granting `get` on those names
//! alone (RBAC cannot grant `list` by `resourceNames`) is enough.

use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::de::DeserializeOwned;

use crate::error::Result;
use crate::kube::cluster::Cluster;

/// What [`get_named`] found: the present objects in the order their names
/// were asked for, and the names that do not exist.
#[derive(Debug)]
pub struct Named<K> {
    pub present: Vec<K>,
    pub absent: Vec<String>,
}

/// GETs each of `names` (each once, however often it is named) in the MP
/// namespace, concurrently: one round trip for the set. A 404 makes the
/// name absent, nothing else.
///
/// # Errors
/// Any other failure of any GET (403, timeout, unreachable): the first in
/// `names`' order, as one line naming `get KIND NAME` ([`Cluster::error`]),
/// where KIND is the kind in lower case (`secret`).
pub async fn get_named<K>(cluster: &Cluster, names: &[String]) -> Result<Named<K>>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let mut unique: Vec<&String> = Vec::with_capacity(names.len());
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    let api = cluster.namespaced::<K>();
    let kind = K::kind(&Default::default()).to_lowercase();
    let answers = crate::error::join_all_in_order(unique.iter().map(|name| {
        let api = &api;
        let kind = &kind;
        async move {
            api.get_opt(name)
                .await
                .map_err(|error| cluster.error(error, &format!("get {kind} {name}")))
        }
    }))
    .await?;
    let mut named = Named {
        present: Vec::new(),
        absent: Vec::new(),
    };
    for (name, answer) in unique.into_iter().zip(answers) {
        match answer {
            Some(object) => named.present.push(object),
            None => named.absent.push(name.clone()),
        }
    }
    Ok(named)
}
