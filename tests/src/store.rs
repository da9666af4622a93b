//! One cluster's objects: by resource, namespace and name, with the
//! server-assigned metadata (uid, resourceVersion, generation, timestamps)
//! and the event history watches replay from.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

/// How many past events a watch can resume from.
const HISTORY_CAPACITY: usize = 20_000;
/// How far a live watcher may fall behind before it is cut off (it re-lists).
const LIVE_EVENT_CAPACITY: usize = 16_384;

/// A resource type, independent of its version: objects are stored once
/// whichever version they were written through.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceId {
    /// "" for the core group.
    pub group: String,
    pub plural: String,
}

impl ResourceId {
    pub fn new(group: &str, plural: &str) -> Self {
        ResourceId {
            group: group.to_string(),
            plural: plural.to_string(),
        }
    }
}

/// (namespace, name); the namespace is "" for cluster-scoped objects.
pub type ObjectKey = (String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change, as watches see it.
#[derive(Debug)]
pub struct WatchEvent {
    pub resource: ResourceId,
    pub event_type: EventType,
    pub object: Arc<Value>,
    /// The object before a modification, so selector watches can tell an
    /// object leaving their selection from one changing inside it.
    pub previous: Option<Arc<Value>>,
    pub resource_version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    NotFound,
    AlreadyExists,
    /// The write named a resourceVersion that is no longer current.
    Conflict,
    /// A watch asked to resume from before the retained history.
    Expired {
        requested: u64,
        oldest: u64,
    },
}

/// How a write behaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Validate and answer, persist nothing (`dryRun=All`).
    pub dry_run: bool,
    /// Keep `metadata.generation`, bumped when anything outside metadata and
    /// status changes (workloads, custom resources), unlike Secrets and ConfigMaps.
    pub tracks_generation: bool,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    /// The last returned key when more items follow.
    pub continue_after: Option<ObjectKey>,
    pub remaining: usize,
}

/// What a new watch starts from.
pub struct Subscription {
    /// Present when the watch asked for no resourceVersion (or "0"): the
    /// current objects, to be sent as ADDED.
    pub current: Option<Vec<Arc<Value>>>,
    /// Past events after the requested resourceVersion, oldest first.
    pub replay: Vec<Arc<WatchEvent>>,
    pub resource_version: u64,
    pub live: broadcast::Receiver<Arc<WatchEvent>>,
}

#[derive(Default)]
struct State {
    resource_version: u64,
    objects: HashMap<ResourceId, BTreeMap<ObjectKey, Arc<Value>>>,
    history: VecDeque<Arc<WatchEvent>>,
    /// Events up to this resourceVersion fell out of the history.
    forgotten_up_to: u64,
}

pub struct Store {
    state: Mutex<State>,
    live: broadcast::Sender<Arc<WatchEvent>>,
    uid_seed: [u8; 16],
    uid_counter: AtomicU64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

pub fn namespace_of(object: &Value) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or("")
}

pub fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or("")
}

/// The current time as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now_timestamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Random bytes for uids and tokens, from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut bytes));
    if from_os.is_err() {
        // No /dev/urandom: fall back to the clock, still unique per run.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or_default();
        let digest = Sha256::digest(format!("{nanos}-{}", std::process::id()));
        for (byte, source) in bytes.iter_mut().zip(digest.iter().cycle()) {
            *byte = *source;
        }
    }
    bytes
}

/// Whether `new` differs from `old` outside metadata and status, which is
/// what bumps `metadata.generation`.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return old != new;
    };
    let relevant = |key: &String| key != "metadata" && key != "status";
    let old_fields = old.iter().filter(|(key, _)| relevant(key));
    let new_fields = new.iter().filter(|(key, _)| relevant(key));
    !old_fields.eq(new_fields)
}

impl Store {
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(LIVE_EVENT_CAPACITY);
        Store {
            state: Mutex::new(State::default()),
            live,
            uid_seed: random_bytes(),
            uid_counter: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn new_uid(&self) -> String {
        let counter = self.uid_counter.fetch_add(1, Ordering::Relaxed);
        let mut hasher = Sha256::new();
        hasher.update(self.uid_seed);
        hasher.update(counter.to_be_bytes());
        let digest = hasher.finalize();
        let hex: String = digest[..16]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }

    fn generated_name(&self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let counter = self.uid_counter.fetch_add(1, Ordering::Relaxed);
        let digest = Sha256::digest([&self.uid_seed[..], &counter.to_be_bytes()].concat());
        let suffix: String = digest[..5]
            .iter()
            .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
            .collect();
        format!("{prefix}{suffix}")
    }

    pub fn resource_version(&self) -> u64 {
        self.lock().resource_version
    }

    pub fn get(&self, resource: &ResourceId, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let state = self.lock();
        let key = (namespace.to_string(), name.to_string());
        state.objects.get(resource)?.get(&key).cloned()
    }

    /// Objects of `resource` in `namespace` (None: all), in key order, after
    /// `after`, at most `limit` of those `keep` accepts.
    pub fn list(
        &self,
        resource: &ResourceId,
        namespace: Option<&str>,
        after: Option<&ObjectKey>,
        limit: Option<usize>,
        keep: impl Fn(&Value) -> bool,
    ) -> ListPage {
        let state = self.lock();
        let resource_version = state.resource_version;
        let Some(objects) = state.objects.get(resource) else {
            return ListPage {
                items: Vec::new(),
                resource_version,
                continue_after: None,
                remaining: 0,
            };
        };
        let start = match (after, namespace) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(namespace)) => Bound::Included((namespace.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let mut candidates = objects
            .range((start, Bound::Unbounded))
            .take_while(|((object_namespace, _), _)| {
                namespace.is_none_or(|namespace| namespace == object_namespace)
            })
            .filter(|(_, object)| keep(object));
        let limit = limit.unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last_key = None;
        for (key, object) in candidates.by_ref() {
            if items.len() == limit {
                // One more match exists: the page is full and more follow.
                let remaining = 1 + candidates.count();
                return ListPage {
                    items,
                    resource_version,
                    continue_after: last_key,
                    remaining,
                };
            }
            items.push(Arc::clone(object));
            last_key = Some(key.clone());
        }
        ListPage {
            items,
            resource_version,
            continue_after: None,
            remaining: 0,
        }
    }

    fn record(&self, state: &mut State, event: WatchEvent) {
        let event = Arc::new(event);
        state.history.push_back(Arc::clone(&event));
        if state.history.len() > HISTORY_CAPACITY
            && let Some(dropped) = state.history.pop_front()
        {
            state.forgotten_up_to = dropped.resource_version;
        }
        // Nobody watching is fine.
        let _ = self.live.send(event);
    }

    fn next_resource_version(state: &mut State, object: &mut Value) -> u64 {
        state.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
        state.resource_version
    }

    /// Creates `object`, assigning uid, creationTimestamp, resourceVersion,
    /// generation and, with only `metadata.generateName`, the name.
    pub fn create(
        &self,
        resource: &ResourceId,
        mut object: Value,
        options: WriteOptions,
    ) -> Result<Arc<Value>, StoreError> {
        if !object["metadata"].is_object() {
            object["metadata"] = json!({});
        }
        if name_of(&object).is_empty()
            && let Some(prefix) = object["metadata"]["generateName"].as_str()
        {
            object["metadata"]["name"] = json!(self.generated_name(prefix));
        }
        let metadata = &mut object["metadata"];
        metadata["uid"] = json!(self.new_uid());
        metadata["creationTimestamp"] = json!(now_timestamp());
        if let Some(fields) = metadata.as_object_mut() {
            fields.remove("resourceVersion");
            fields.remove("deletionTimestamp");
            if options.tracks_generation {
                fields.insert("generation".into(), json!(1));
            } else {
                fields.remove("generation");
            }
        }
        let key = (
            namespace_of(&object).to_string(),
            name_of(&object).to_string(),
        );
        let mut state = self.lock();
        if state
            .objects
            .get(resource)
            .is_some_and(|objects| objects.contains_key(&key))
        {
            return Err(StoreError::AlreadyExists);
        }
        if options.dry_run {
            return Ok(Arc::new(object));
        }
        let resource_version = Self::next_resource_version(&mut state, &mut object);
        let object = Arc::new(object);
        state
            .objects
            .entry(resource.clone())
            .or_default()
            .insert(key, Arc::clone(&object));
        self.record(
            &mut state,
            WatchEvent {
                resource: resource.clone(),
                event_type: EventType::Added,
                object: Arc::clone(&object),
                previous: None,
                resource_version,
            },
        );
        Ok(object)
    }

    /// Replaces an existing object. A non-empty `metadata.resourceVersion`
    /// must be the current one. uid and creationTimestamp are kept; an update
    /// that changes nothing keeps the resourceVersion and sends no event.
    pub fn update(
        &self,
        resource: &ResourceId,
        mut object: Value,
        options: WriteOptions,
    ) -> Result<Arc<Value>, StoreError> {
        let key = (
            namespace_of(&object).to_string(),
            name_of(&object).to_string(),
        );
        let mut state = self.lock();
        let old = state
            .objects
            .get(resource)
            .and_then(|objects| objects.get(&key))
            .cloned()
            .ok_or(StoreError::NotFound)?;
        let old_version = &old["metadata"]["resourceVersion"];
        match object["metadata"]["resourceVersion"].as_str() {
            Some(wanted) if !wanted.is_empty() && Some(wanted) != old_version.as_str() => {
                return Err(StoreError::Conflict);
            }
            _ => {}
        }
        let metadata = &mut object["metadata"];
        metadata["uid"] = old["metadata"]["uid"].clone();
        metadata["creationTimestamp"] = old["metadata"]["creationTimestamp"].clone();
        metadata["resourceVersion"] = old_version.clone();
        if options.tracks_generation {
            let old_generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
            let generation = if spec_changed(&old, &object) {
                old_generation + 1
            } else {
                old_generation
            };
            object["metadata"]["generation"] = json!(generation);
        }
        if object == *old || options.dry_run {
            return Ok(Arc::new(object));
        }
        let resource_version = Self::next_resource_version(&mut state, &mut object);
        let object = Arc::new(object);
        if let Some(objects) = state.objects.get_mut(resource) {
            objects.insert(key, Arc::clone(&object));
        }
        self.record(
            &mut state,
            WatchEvent {
                resource: resource.clone(),
                event_type: EventType::Modified,
                object: Arc::clone(&object),
                previous: Some(old),
                resource_version,
            },
        );
        Ok(object)
    }

    /// Removes an object, returning it as it was.
    pub fn delete(
        &self,
        resource: &ResourceId,
        namespace: &str,
        name: &str,
        dry_run: bool,
    ) -> Result<Arc<Value>, StoreError> {
        let key = (namespace.to_string(), name.to_string());
        let mut state = self.lock();
        let objects = state
            .objects
            .get_mut(resource)
            .ok_or(StoreError::NotFound)?;
        if dry_run {
            return objects.get(&key).cloned().ok_or(StoreError::NotFound);
        }
        let removed = objects.remove(&key).ok_or(StoreError::NotFound)?;
        Ok(self.record_deletion(&mut state, resource, &removed))
    }

    fn record_deletion(
        &self,
        state: &mut State,
        resource: &ResourceId,
        removed: &Value,
    ) -> Arc<Value> {
        // The DELETED event carries the final state at a new resourceVersion.
        let mut object = removed.clone();
        let resource_version = Self::next_resource_version(state, &mut object);
        let object = Arc::new(object);
        self.record(
            state,
            WatchEvent {
                resource: resource.clone(),
                event_type: EventType::Deleted,
                object: Arc::clone(&object),
                previous: None,
                resource_version,
            },
        );
        object
    }

    /// Deletes every object for which `doomed(resource, namespace)` holds:
    /// a namespace's contents, or a dropped CRD's custom resources.
    pub fn delete_where(&self, doomed: impl Fn(&ResourceId, &str) -> bool) {
        let mut state = self.lock();
        let mut removed = Vec::new();
        for (resource, objects) in state.objects.iter_mut() {
            let keys: Vec<ObjectKey> = objects
                .keys()
                .filter(|(namespace, _)| doomed(resource, namespace))
                .cloned()
                .collect();
            for key in keys {
                if let Some(object) = objects.remove(&key) {
                    removed.push((resource.clone(), object));
                }
            }
        }
        for (resource, object) in removed {
            self.record_deletion(&mut state, &resource, &object);
        }
    }

    /// Starts a watch of `resource` from `resource_version` (None: from the
    /// current objects).
    pub fn subscribe(
        &self,
        resource: &ResourceId,
        resource_version: Option<u64>,
    ) -> Result<Subscription, StoreError> {
        let state = self.lock();
        let live = self.live.subscribe();
        let Some(since) = resource_version else {
            let current = state
                .objects
                .get(resource)
                .map(|objects| objects.values().cloned().collect())
                .unwrap_or_default();
            return Ok(Subscription {
                current: Some(current),
                replay: Vec::new(),
                resource_version: state.resource_version,
                live,
            });
        };
        if since < state.forgotten_up_to {
            return Err(StoreError::Expired {
                requested: since,
                oldest: state.forgotten_up_to,
            });
        }
        // History is ordered by resourceVersion: skip to the first newer event.
        let first_newer = state
            .history
            .partition_point(|event| event.resource_version <= since);
        let replay = state
            .history
            .range(first_newer..)
            .filter(|event| &event.resource == resource)
            .cloned()
            .collect();
        Ok(Subscription {
            current: None,
            replay,
            resource_version: state.resource_version,
            live,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> ResourceId {
        ResourceId::new("", "secrets")
    }

    fn secret(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": name, "namespace": "tsb"}, "data": {}})
    }

    const PLAIN: WriteOptions = WriteOptions {
        dry_run: false,
        tracks_generation: false,
    };

    #[test]
    fn create_assigns_metadata_and_rejects_duplicates() {
        let store = Store::new();
        let created = store.create(&secrets(), secret("a"), PLAIN).unwrap();
        let metadata = &created["metadata"];
        assert_eq!(metadata["uid"].as_str().unwrap().len(), 36);
        assert!(
            metadata["creationTimestamp"]
                .as_str()
                .unwrap()
                .ends_with('Z')
        );
        assert_eq!(metadata["resourceVersion"], "1");
        assert!(metadata.get("generation").is_none());
        assert_eq!(
            store.create(&secrets(), secret("a"), PLAIN).unwrap_err(),
            StoreError::AlreadyExists
        );
        let other = store.create(&secrets(), secret("b"), PLAIN).unwrap();
        assert_ne!(other["metadata"]["uid"], metadata["uid"]);
    }

    #[test]
    fn generate_name_gets_a_suffix() {
        let store = Store::new();
        let mut object = secret("");
        object["metadata"]["generateName"] = json!("token-");
        let created = store.create(&secrets(), object, PLAIN).unwrap();
        let name = name_of(&created);
        assert!(name.starts_with("token-") && name.len() == 11, "{name}");
    }

    #[test]
    fn update_checks_resource_version_and_bumps_generation_on_spec_change() {
        let store = Store::new();
        let deployments = ResourceId::new("apps", "deployments");
        let options = WriteOptions {
            dry_run: false,
            tracks_generation: true,
        };
        let mut object =
            json!({"metadata": {"name": "d", "namespace": "tsb"}, "spec": {"replicas": 1}});
        let created = store.create(&deployments, object.clone(), options).unwrap();
        assert_eq!(created["metadata"]["generation"], 1);

        object["metadata"]["resourceVersion"] = json!("999");
        assert_eq!(
            store
                .update(&deployments, object.clone(), options)
                .unwrap_err(),
            StoreError::Conflict
        );

        object["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"].clone();
        object["status"] = json!({"replicas": 1});
        let status_only = store.update(&deployments, object.clone(), options).unwrap();
        assert_eq!(status_only["metadata"]["generation"], 1);
        assert_eq!(status_only["metadata"]["resourceVersion"], "2");
        assert_eq!(status_only["metadata"]["uid"], created["metadata"]["uid"]);

        object["metadata"]["resourceVersion"] = json!("");
        object["spec"]["replicas"] = json!(3);
        let scaled = store.update(&deployments, object, options).unwrap();
        assert_eq!(scaled["metadata"]["generation"], 2);
    }

    #[test]
    fn unchanged_update_keeps_version_and_dry_run_persists_nothing() {
        let store = Store::new();
        let created = store.create(&secrets(), secret("a"), PLAIN).unwrap();
        let same = store.update(&secrets(), (*created).clone(), PLAIN).unwrap();
        assert_eq!(same["metadata"]["resourceVersion"], "1");

        let dry = WriteOptions {
            dry_run: true,
            ..PLAIN
        };
        store.create(&secrets(), secret("b"), dry).unwrap();
        assert!(store.get(&secrets(), "tsb", "b").is_none());
        let mut changed = (*created).clone();
        changed["data"] = json!({"k": "dg=="});
        store.update(&secrets(), changed, dry).unwrap();
        assert_eq!(
            store.get(&secrets(), "tsb", "a").unwrap()["data"],
            json!({})
        );
        store.delete(&secrets(), "tsb", "a", true).unwrap();
        assert!(store.get(&secrets(), "tsb", "a").is_some());
        assert_eq!(store.resource_version(), 1);
    }

    #[test]
    fn list_filters_by_namespace_and_pages() {
        let store = Store::new();
        for name in ["a", "b", "c", "d"] {
            store.create(&secrets(), secret(name), PLAIN).unwrap();
        }
        let mut elsewhere = secret("z");
        elsewhere["metadata"]["namespace"] = json!("other");
        store.create(&secrets(), elsewhere, PLAIN).unwrap();

        let all = store.list(&secrets(), None, None, None, |_| true);
        assert_eq!(all.items.len(), 5);
        let first = store.list(&secrets(), Some("tsb"), None, Some(3), |_| true);
        let names: Vec<&str> = first.items.iter().map(|object| name_of(object)).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(first.remaining, 1);
        let after = first.continue_after.unwrap();
        let second = store.list(&secrets(), Some("tsb"), Some(&after), Some(3), |_| true);
        assert_eq!(second.items.len(), 1);
        assert!(second.continue_after.is_none());
        let filtered = store.list(&secrets(), Some("tsb"), None, None, |object| {
            name_of(object) != "b"
        });
        assert_eq!(filtered.items.len(), 3);
    }

    #[test]
    fn watch_replays_history_and_expires_when_too_old() {
        let store = Store::new();
        store.create(&secrets(), secret("a"), PLAIN).unwrap();
        store
            .create(&ResourceId::new("", "configmaps"), secret("cm"), PLAIN)
            .unwrap();
        store.delete(&secrets(), "tsb", "a", false).unwrap();

        let from_start = store.subscribe(&secrets(), Some(0)).unwrap();
        let types: Vec<EventType> = from_start.replay.iter().map(|e| e.event_type).collect();
        assert_eq!(types, [EventType::Added, EventType::Deleted]);
        assert_eq!(from_start.replay[1].resource_version, 3);

        let current = store.subscribe(&secrets(), None).unwrap();
        assert_eq!(current.current.unwrap().len(), 0);

        let mut live = store.subscribe(&secrets(), Some(3)).unwrap();
        assert!(live.replay.is_empty());
        store.create(&secrets(), secret("b"), PLAIN).unwrap();
        let event = live.live.try_recv().unwrap();
        assert_eq!(event.event_type, EventType::Added);
        assert_eq!(name_of(&event.object), "b");

        let mut state = store.lock();
        state.forgotten_up_to = 2;
        drop(state);
        assert!(matches!(
            store.subscribe(&secrets(), Some(1)),
            Err(StoreError::Expired { .. })
        ));
    }

    #[test]
    fn delete_where_removes_a_namespace_contents_with_events() {
        let store = Store::new();
        store.create(&secrets(), secret("a"), PLAIN).unwrap();
        let mut elsewhere = secret("z");
        elsewhere["metadata"]["namespace"] = json!("other");
        store.create(&secrets(), elsewhere, PLAIN).unwrap();
        store.delete_where(|_, namespace| namespace == "tsb");
        assert!(store.get(&secrets(), "tsb", "a").is_none());
        assert!(store.get(&secrets(), "other", "z").is_some());
        let events = store.subscribe(&secrets(), Some(2)).unwrap().replay;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_type, EventType::Deleted);
    }
}
