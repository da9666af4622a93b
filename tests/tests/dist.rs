//! Distribution: the krew manifests follow krew's own validation rules
//! (sigs.k8s.io/krew internal/index/validation and cmd/validate-krew-manifest),
//! `make dist` builds reproducible archives whose sums are the manifests',
//! and `make install` puts completions and man pages where shells look.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use serde::Deserialize;
use sha2::{Digest, Sha256};

const PLUGINS: [&str; 4] = ["export", "import", "cacheck", "failover"];
const VERSION: &str = env!("CARGO_PKG_VERSION");
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

/// The <os, arch> pairs krew supports (cmd/validate-krew-manifest allPlatforms).
const KREW_PLATFORMS: [(&str, &str); 11] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

/// The files krew's validator accepts as the license (it requires one).
const LICENSE_NAMES: [&str; 8] = [
    "license",
    "license.txt",
    "license.md",
    "licenses",
    "licenses.txt",
    "licenses.md",
    "copying",
    "copying.txt",
];

/// krew's index.Plugin, less `caveats` (unused here); unknown fields are
/// refused (krew ignores them) so that a misspelt field cannot hide.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manifest {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    version: String,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    homepage: String,
    #[serde(default)]
    platforms: Vec<Platform>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Platform {
    #[serde(default)]
    uri: String,
    #[serde(default)]
    sha256: String,
    selector: Option<Selector>,
    files: Option<Vec<FileOperation>>,
    #[serde(default)]
    bin: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Selector {
    match_labels: Option<BTreeMap<String, String>>,
    match_expressions: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOperation {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// Everything krew's validation (and its manifest validator) would refuse
/// in the manifest stored as `file_name`; empty when it passes.
fn krew_problems(file_name: &str, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |text: String| problems.push(text);
    if manifest.api_version != "krew.googlecontainertools.github.com/v1alpha2" {
        problem(format!("unsupported apiVersion {:?}", manifest.api_version));
    }
    if manifest.kind != "Plugin" {
        problem(format!("kind {:?} is not Plugin", manifest.kind));
    }
    let Some(name) = file_name.strip_suffix(".yaml") else {
        problem(format!(
            "{file_name}: the manifest's extension must be .yaml"
        ));
        return problems;
    };
    let windows_reserved = ["CON", "PRN", "AUX", "NUL"]
        .into_iter()
        .map(String::from)
        .chain((1..=9).flat_map(|n| [format!("COM{n}"), format!("LPT{n}")]));
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || windows_reserved
            .into_iter()
            .any(|reserved| reserved.eq_ignore_ascii_case(name))
    {
        problem(format!(
            "plugin name {name:?} is not allowed (^[\\w-]+$, no Windows device names)"
        ));
    }
    if manifest.metadata.name != name {
        problem(format!(
            "metadata.name {:?} is not the file name {name:?}",
            manifest.metadata.name
        ));
    }
    let spec = &manifest.spec;
    if spec.short_description.is_empty() {
        problem("no shortDescription".into());
    }
    if spec.short_description.contains(['\r', '\n']) {
        problem("shortDescription has a line break".into());
    }
    if !is_krew_version(&spec.version) {
        problem(format!(
            "version {:?} is not semver with a v prefix",
            spec.version
        ));
    }
    if spec.platforms.is_empty() {
        problem("no platforms".into());
    }
    for (index, platform) in spec.platforms.iter().enumerate() {
        for text in platform_problems(platform) {
            problem(format!("platforms[{index}]: {text}"));
        }
    }
    // Every supported <os, arch> may be selected by one platform at most.
    for (os, arch) in KREW_PLATFORMS {
        let matching: Vec<usize> = (spec.platforms.iter().enumerate())
            .filter(|(_, platform)| selects(platform, os, arch))
            .map(|(index, _)| index)
            .collect();
        if matching.len() > 1 {
            problem(format!("platforms {matching:?} overlap on {os}/{arch}"));
        }
    }
    problems
}

fn platform_problems(platform: &Platform) -> Vec<String> {
    let mut problems = Vec::new();
    if !platform.uri.starts_with("https://") {
        problems.push(format!("uri {:?} is not https", platform.uri));
    }
    if platform.sha256.len() != 64
        || !platform
            .sha256
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        problems.push(format!(
            "sha256 {:?} is not 64 lowercase hex digits",
            platform.sha256
        ));
    }
    if platform.bin.is_empty() {
        problems.push("no bin".into());
    }
    // krew links bin from inside the install directory only.
    if platform.bin.starts_with('/') || platform.bin.split('/').any(|part| part == "..") {
        problems.push(format!(
            "bin {:?} leaves the install directory",
            platform.bin
        ));
    }
    match &platform.files {
        Some(files) if files.is_empty() => {
            problems.push("files is empty (omit it or list some)".into())
        }
        Some(files) => {
            for operation in files {
                if operation.from.is_empty() || operation.to.is_empty() {
                    problems.push(format!("files entry {operation:?} needs from and to"));
                }
            }
            if !files.iter().any(|operation| operation.from == platform.bin) {
                problems.push(format!("bin {:?} is not among files", platform.bin));
            }
            if !files
                .iter()
                .any(|operation| LICENSE_NAMES.contains(&operation.from.to_lowercase().as_str()))
            {
                problems.push("no license file among files".into());
            }
        }
        None => {}
    }
    match &platform.selector {
        None => problems.push("no selector".into()),
        Some(selector) => {
            if selector.match_expressions.is_some() {
                problems
                    .push("matchExpressions: these manifests select by matchLabels only".into());
            }
            match &selector.match_labels {
                None => problems.push("empty selector".into()),
                Some(labels) if labels.is_empty() => problems.push("matchLabels is empty".into()),
                Some(labels) => {
                    for key in labels
                        .keys()
                        .filter(|key| !matches!(key.as_str(), "os" | "arch"))
                    {
                        problems.push(format!("selector key {key:?} is not os or arch"));
                    }
                    if !KREW_PLATFORMS
                        .iter()
                        .any(|(os, arch)| selects(platform, os, arch))
                    {
                        problems.push(format!(
                            "selector {labels:?} matches no platform krew supports"
                        ));
                    }
                }
            }
        }
    }
    problems
}

fn selects(platform: &Platform, os: &str, arch: &str) -> bool {
    let Some(labels) = platform
        .selector
        .as_ref()
        .and_then(|selector| selector.match_labels.as_ref())
    else {
        return false;
    };
    labels.iter().all(|(key, value)| match key.as_str() {
        "os" => value == os,
        "arch" => value == arch,
        _ => false,
    })
}

/// k8s.io/apimachinery's ParseSemantic after krew's required `v`:
/// MAJOR.MINOR.PATCH, no leading zeros, optional -pre and +build.
fn is_krew_version(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let (rest, build) = match rest.split_once('+') {
        Some((rest, build)) => (rest, Some(build)),
        None => (rest, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let identifiers_ok = |text: &str| {
        text.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    let numbers: Vec<&str> = core.split('.').collect();
    numbers.len() == 3
        && numbers.iter().all(|number| {
            !number.is_empty()
                && number.bytes().all(|byte| byte.is_ascii_digit())
                && (number.len() == 1 || !number.starts_with('0'))
        })
        && pre.is_none_or(identifiers_ok)
        && build.is_none_or(identifiers_ok)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

fn read_manifests(dir: &Path) -> BTreeMap<String, Manifest> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .map(|name| {
            let text = fs::read_to_string(dir.join(&name)).unwrap();
            let manifest: Manifest =
                serde_saphyr::from_str(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
            (name, manifest)
        })
        .collect()
}

fn expected_file_names() -> BTreeSet<String> {
    PLUGINS
        .iter()
        .map(|plugin| format!("mp-{plugin}.yaml"))
        .collect()
}

/// Valid by krew's rules, of this version, and pointing at this repository's
/// release of the archive its selector names.
fn assert_release_manifest(file_name: &str, manifest: &Manifest) {
    let problems = krew_problems(file_name, manifest);
    assert!(problems.is_empty(), "{file_name}: {problems:#?}");
    assert_eq!(
        manifest.spec.version,
        format!("v{VERSION}"),
        "{file_name}: not the workspace version"
    );
    assert_eq!(manifest.spec.homepage, REPOSITORY, "{file_name}");
    assert!(
        !manifest.spec.description.trim().is_empty(),
        "{file_name}: no description"
    );
    let binary = format!("kubectl-{}", manifest.metadata.name);
    for platform in &manifest.spec.platforms {
        let labels = platform
            .selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap();
        let expected_uri = format!(
            "{REPOSITORY}/releases/download/v{VERSION}/{binary}_{}_{}.tar.gz",
            labels["os"], labels["arch"]
        );
        assert_eq!(platform.uri, expected_uri, "{file_name}");
        assert_eq!(platform.bin, binary, "{file_name}");
    }
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `make dist` with the dev profile (the build the other tests already made).
fn make_dist(dist_dir: &Path, manifests_dir: &Path) {
    run(Command::new("make")
        .args(["-s", "dist", "CARGO_PROFILE=dev"])
        .arg(format!("DIST_DIR={}", dist_dir.display()))
        .arg(format!("KREW_MANIFESTS_DIR={}", manifests_dir.display()))
        .current_dir(workspace_root()));
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn committed_manifests_are_valid_krew_manifests_of_this_version() {
    let dir = workspace_root().join("krew-manifests");
    let manifests = read_manifests(&dir);
    assert_eq!(
        manifests.keys().cloned().collect::<BTreeSet<_>>(),
        expected_file_names()
    );
    for (file_name, manifest) in &manifests {
        assert_release_manifest(file_name, manifest);
    }
}

/// The committed manifests are exactly what mp-dist writes for their own
/// sums: their text can only change through the generator.
#[test]
fn committed_manifests_are_the_generators_output() {
    let dir = workspace_root().join("krew-manifests");
    let manifests = read_manifests(&dir);
    let scratch = tempfile::tempdir().unwrap();
    let mut sums: Vec<String> = (manifests.values())
        .flat_map(|manifest| &manifest.spec.platforms)
        .map(|platform| {
            format!(
                "{}  {}\n",
                platform.sha256,
                platform.uri.rsplit('/').next().unwrap()
            )
        })
        .collect();
    sums.sort();
    fs::write(scratch.path().join("sha256sums.txt"), sums.concat()).unwrap();
    let out = scratch.path().join("krew");
    // mp-dist is the xtask package's: CARGO_BIN_EXE_ names this package's binaries only.
    run(Command::new(env!("CARGO"))
        .args([
            "run", "-q", "-p", "xtask", "--bin", "mp-dist", "--", "krew", "--dist",
        ])
        .arg(scratch.path())
        .arg("--out")
        .arg(&out)
        .current_dir(workspace_root()));
    for file_name in expected_file_names() {
        assert_eq!(
            fs::read_to_string(out.join(&file_name)).unwrap(),
            fs::read_to_string(dir.join(&file_name)).unwrap(),
            "krew-manifests/{file_name} was edited by hand: change xtask/src/main.rs and run make dist"
        );
    }
}

#[test]
fn the_validator_refuses_what_krew_refuses() {
    let text = fs::read_to_string(workspace_root().join("krew-manifests/mp-export.yaml")).unwrap();
    let valid: Manifest = serde_saphyr::from_str(&text).unwrap();
    assert!(krew_problems("mp-export.yaml", &valid).is_empty());
    assert!(
        !krew_problems("mp-import.yaml", &valid).is_empty(),
        "name must be the file name"
    );
    assert!(
        !krew_problems("mp-export.yml", &valid).is_empty(),
        "extension must be .yaml"
    );

    type Breakage = fn(&mut Manifest);
    let breakages: [(&str, Breakage); 15] = [
        ("apiVersion", |m| {
            m.api_version = "krew.googlecontainertools.github.com/v1alpha1".into()
        }),
        ("kind", |m| m.kind = "Plugins".into()),
        ("version without v", |m| m.spec.version = "0.1.0".into()),
        ("version not semver", |m| m.spec.version = "v0.1".into()),
        ("version leading zero", |m| {
            m.spec.version = "v0.01.0".into()
        }),
        ("empty short description", |m| {
            m.spec.short_description.clear()
        }),
        ("multi-line short description", |m| {
            m.spec.short_description.push_str("\nmore")
        }),
        ("no platforms", |m| m.spec.platforms.clear()),
        ("uppercase sha256", |m| {
            m.spec.platforms[0].sha256 = m.spec.platforms[0].sha256.to_uppercase()
        }),
        ("http uri", |m| {
            m.spec.platforms[0].uri = m.spec.platforms[0].uri.replacen("https", "http", 1)
        }),
        ("bin outside", |m| {
            m.spec.platforms[0].bin = "../kubectl-mp-export".into()
        }),
        ("empty files", |m| {
            m.spec.platforms[0].files = Some(Vec::new())
        }),
        ("selector key", |m| {
            let selector = m.spec.platforms[0].selector.as_mut().unwrap();
            selector
                .match_labels
                .as_mut()
                .unwrap()
                .insert("distro".into(), "debian".into());
        }),
        ("unsupported platform", |m| {
            let selector = m.spec.platforms[0].selector.as_mut().unwrap();
            selector
                .match_labels
                .as_mut()
                .unwrap()
                .insert("arch".into(), "riscv64".into());
        }),
        ("overlapping selectors", |m| {
            let mut linux_only = m.spec.platforms[0].clone();
            linux_only
                .selector
                .as_mut()
                .unwrap()
                .match_labels
                .as_mut()
                .unwrap()
                .remove("arch");
            m.spec.platforms.push(linux_only);
        }),
    ];
    for (what, breakage) in breakages {
        let mut broken = valid.clone();
        breakage(&mut broken);
        assert!(
            !krew_problems("mp-export.yaml", &broken).is_empty(),
            "accepted: {what}"
        );
    }
    assert!(is_krew_version("v1.2.3-rc.1+build.5"));
    assert!(!is_krew_version("v1.2.3-"));
}

#[test]
fn make_dist_archives_are_reproducible_and_match_the_manifests() {
    let scratch = tempfile::tempdir().unwrap();
    let dist = scratch.path().join("dist");
    let krew = scratch.path().join("krew");
    make_dist(&dist, &krew);

    let manifests = read_manifests(&krew);
    assert_eq!(
        manifests.keys().cloned().collect::<BTreeSet<_>>(),
        expected_file_names()
    );
    let sums: BTreeMap<String, String> = fs::read_to_string(dist.join("sha256sums.txt"))
        .unwrap()
        .lines()
        .map(|line| {
            let (sum, file) = line.split_once("  ").unwrap();
            (file.to_string(), sum.to_string())
        })
        .collect();
    let archives: BTreeSet<String> = fs::read_dir(&dist)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tar.gz"))
        .collect();
    assert_eq!(
        sums.keys().cloned().collect::<BTreeSet<_>>(),
        archives,
        "sha256sums.txt lists every archive"
    );

    let license = fs::read(workspace_root().join("LICENSE")).unwrap();
    let mut referenced = BTreeSet::new();
    for (file_name, manifest) in &manifests {
        assert_release_manifest(file_name, manifest);
        for platform in &manifest.spec.platforms {
            let archive_name = platform.uri.rsplit('/').next().unwrap().to_string();
            let bytes = fs::read(dist.join(&archive_name)).unwrap();
            assert_eq!(
                sha256_hex(&bytes),
                platform.sha256,
                "{file_name}: sha256 of {archive_name}"
            );
            assert_eq!(
                sums[&archive_name], platform.sha256,
                "sha256sums.txt: {archive_name}"
            );
            // gzip -n: no file name (FLG.FNAME) and no timestamp (MTIME).
            assert_eq!(bytes[3] & 0x08, 0, "{archive_name} stores a file name");
            assert_eq!(
                &bytes[4..8],
                &[0, 0, 0, 0],
                "{archive_name} stores a timestamp"
            );
            let listing = run(Command::new("tar")
                .args(["-tvzf"])
                .arg(dist.join(&archive_name)));
            let entries: Vec<&str> = listing.lines().collect();
            assert_eq!(entries.len(), 2, "{archive_name}: {listing}");
            // The binary, executable, then LICENSE: the order dist.sh names them.
            assert!(
                entries[0].starts_with("-rwxr-xr-x 0/0")
                    && entries[0].ends_with(&format!(" {}", platform.bin)),
                "{listing}"
            );
            assert!(
                entries[1].starts_with("-rw-r--r-- 0/0") && entries[1].ends_with(" LICENSE"),
                "{listing}"
            );
            assert!(
                entries
                    .iter()
                    .all(|entry| entry.contains(" 1970-01-01 00:00 ")),
                "{listing}"
            );
            let unpacked = scratch.path().join(&archive_name).with_extension("");
            fs::create_dir_all(&unpacked).unwrap();
            run(Command::new("tar")
                .arg("-xzf")
                .arg(dist.join(&archive_name))
                .arg("-C")
                .arg(&unpacked));
            assert_eq!(
                fs::read(unpacked.join("LICENSE")).unwrap(),
                license,
                "{archive_name}: LICENSE"
            );
            referenced.insert(archive_name);
        }
    }
    assert_eq!(referenced, archives, "every archive is in a manifest");

    // Built again from the same binaries: the same bytes.
    let again = scratch.path().join("again");
    make_dist(&again, &scratch.path().join("krew-again"));
    for archive in &archives {
        assert!(
            fs::read(dist.join(archive)).unwrap() == fs::read(again.join(archive)).unwrap(),
            "{archive} is not reproducible"
        );
    }
}

/// What `kubectl krew install` does with a manifest and its archive (krew
/// itself cannot be installed here): copy the `files`, link `bin` as
/// kubectl-<name with _ for ->, and kubectl finds the plugin.
#[test]
fn a_krew_style_install_from_the_archive_runs_under_kubectl() {
    // kubectl 1.36, built with the test clusters (tests/kube/build-tools.sh).
    let kubectl = mp_sandbox::tools::kube_tools_dir()
        .expect("the built tools")
        .join("kubectl");
    let scratch = tempfile::tempdir().unwrap();
    let dist = scratch.path().join("dist");
    let krew = scratch.path().join("krew");
    make_dist(&dist, &krew);
    let bin_dir = scratch.path().join("krew-root/bin");
    fs::create_dir_all(&bin_dir).unwrap();
    for (file_name, manifest) in read_manifests(&krew) {
        let host = manifest
            .spec
            .platforms
            .iter()
            .find(|platform| selects(platform, "linux", "amd64"))
            .unwrap_or_else(|| panic!("{file_name}: no linux/amd64 platform"));
        let name = &manifest.metadata.name;
        let extracted = scratch.path().join("extract").join(name);
        let install = scratch
            .path()
            .join("krew-root/store")
            .join(name)
            .join(&manifest.spec.version);
        fs::create_dir_all(&extracted).unwrap();
        fs::create_dir_all(&install).unwrap();
        let archive = dist.join(host.uri.rsplit('/').next().unwrap());
        assert_eq!(sha256_hex(&fs::read(&archive).unwrap()), host.sha256);
        run(Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&extracted));
        for operation in host.files.as_ref().unwrap() {
            let target = install.join(&operation.to).join(&operation.from);
            fs::copy(extracted.join(&operation.from), target).unwrap();
        }
        let binary = install.join(&host.bin);
        assert_ne!(
            fs::metadata(&binary).unwrap().permissions().mode() & 0o111,
            0
        );
        std::os::unix::fs::symlink(
            &binary,
            bin_dir.join(format!("kubectl-{}", name.replace('-', "_"))),
        )
        .unwrap();
    }
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for plugin in PLUGINS {
        let stdout = run(Command::new(&kubectl)
            .args([&format!("mp-{plugin}"), "--version"])
            .env("PATH", &path)
            .env("KUBECONFIG", scratch.path().join("no-kubeconfig")));
        assert!(
            stdout.contains(VERSION),
            "kubectl mp-{plugin} --version: {stdout}"
        );
    }
}

/// `make install` puts completions and man pages where bash-completion, zsh,
/// fish and man look, and each names every flag of its plugin's clap `Cli`.
#[test]
fn make_install_places_completions_and_man_pages_naming_every_flag() {
    let prefix = tempfile::tempdir().unwrap();
    run(Command::new("make")
        .args(["-s", "install", "CARGO_PROFILE=dev"])
        .arg(format!("PREFIX={}", prefix.path().display()))
        .current_dir(workspace_root()));
    let share = prefix.path().join("share");
    let commands = [
        kubectl_mp::export::Cli::command(),
        kubectl_mp::import::Cli::command(),
        kubectl_mp::cacheck::Cli::command(),
        kubectl_mp::failover::Cli::command(),
    ];
    let man_available = Command::new("man").arg("--version").output().is_ok();
    for (plugin, command) in PLUGINS.into_iter().zip(commands) {
        let binary = format!("kubectl-mp-{plugin}");
        assert!(prefix.path().join("bin").join(&binary).is_file());
        let bash =
            fs::read_to_string(share.join("bash-completion/completions").join(&binary)).unwrap();
        let zsh = fs::read_to_string(share.join("zsh/site-functions").join(format!("_{binary}")))
            .unwrap();
        let fish = fs::read_to_string(
            share
                .join("fish/vendor_completions.d")
                .join(format!("{binary}.fish")),
        )
        .unwrap();
        let man_path = share.join("man/man1").join(format!("{binary}.1"));
        let man = fs::read_to_string(&man_path).unwrap();
        assert!(
            bash.lines()
                .any(|line| line.trim_start().starts_with("complete -F")
                    && line.ends_with(&format!(" {binary}"))),
            "bash completion is not registered for {binary}"
        );
        assert!(
            zsh.starts_with(&format!("#compdef {binary}")),
            "{}",
            &zsh[..60.min(zsh.len())]
        );
        let flags: Vec<&str> = command
            .get_arguments()
            .filter(|argument| !argument.is_hide_set())
            .filter_map(|argument| argument.get_long())
            .collect();
        assert!(flags.len() > 3, "{binary}: {flags:?}");
        // The Role it needs (issue 20), in roff: '-' is escaped.
        let role = kubectl_mp::ui::cli::rbac_dir_of(&binary).replace('-', "\\-");
        assert!(man.contains(&role), "man page of {binary} lacks {role}");
        for flag in flags {
            assert!(
                bash.contains(&format!("--{flag}")),
                "bash completion of {binary} lacks --{flag}"
            );
            assert!(
                zsh.contains(&format!("--{flag}")),
                "zsh completion of {binary} lacks --{flag}"
            );
            assert!(
                fish.contains(&format!("-l {flag}")),
                "fish completion of {binary} lacks --{flag}"
            );
            let roff_flag = format!("\\-\\-{}", flag.replace('-', "\\-"));
            assert!(
                man.contains(&roff_flag),
                "man page of {binary} lacks --{flag}"
            );
        }
        if man_available {
            let rendered = run(Command::new("man")
                .args(["-P", "cat", "-l"])
                .arg(&man_path)
                .env("MANWIDTH", "100"));
            assert!(
                rendered.contains("--context") || rendered.contains("--from"),
                "{rendered}"
            );
        }
    }
}
