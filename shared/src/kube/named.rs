//! Reading objects whose names are known: one GET per name, all at once,
//! so what a plugin reads follows the Management Plane, not how many other
//! objects share its namespace, and a Role granting `get` on those names
//! alone (RBAC cannot grant `list` by `resourceNames`) is enough.

use k8s_openapi::NamespaceResourceScope;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use futures::StreamExt;

use crate::error::Result;
use crate::kube::cluster::Cluster;

/// How many GETs [`get_named`] has in flight at once: enough for the MP's
/// whole set of names (a dozen Secrets, ten Deployments) in one round trip.
/// Over HTTP/2 (what API servers offer, [`crate::kube::transport`]) they
/// share one connection; a proxy speaking only HTTP/1.1 gets at most this
/// many connections, each reused.
const CONCURRENT_GETS: usize = 32;

/// What [`get_named`] found: the present objects in the order their names
/// were asked for, and the names that do not exist.
#[derive(Debug)]
pub struct Named<K> {
    pub present: Vec<K>,
    pub absent: Vec<String>,
}

/// GETs each of `names` (each once, however often it is named) in the MP
/// namespace, [`CONCURRENT_GETS`] at a time. A 404 makes the name absent,
/// nothing else.
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
    // Built before they are streamed: a stream of a closure's futures
    // borrowing `cluster` would not be provably `Send`.
    let gets: Vec<_> = unique
        .iter()
        .map(|name| get_one(&api, cluster, &kind, name))
        .collect();
    let answers: Vec<Result<Option<K>>> = futures::stream::iter(gets)
        .buffered(CONCURRENT_GETS)
        .collect()
        .await;
    let answers = answers.into_iter().collect::<Result<Vec<_>>>()?;
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

/// One GET of [`get_named`]: None when there is no such object.
async fn get_one<K>(api: &Api<K>, cluster: &Cluster, kind: &str, name: &str) -> Result<Option<K>>
where
    K: Clone + DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name)
        .await
        .map_err(|error| cluster.error(error, &format!("get {kind} {name}")))
}
