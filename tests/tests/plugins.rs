//! The plugins as users install and run them: found by the real kubectl under
//! both spellings, with kubectl's connection conventions and our exit codes.

mod plugin_support;

use mp_sandbox::SeedKind;
use mp_sandbox::faults::{FaultAction, FaultRule};
use std::path::Path;
use std::process::Command;

use plugin_support::{PLUGINS, World, bin_dir, workspace_root};

/// A failover from `active` to `standby` with a manual DNS change (no
/// server needed), confirmed by `--yes`.
const MANUAL_FAILOVER: [&str; 14] = [
    "mp-failover",
    "--from",
    "active",
    "--to",
    "standby",
    "--database",
    "shared",
    "--dns-backend",
    "manual",
    "--dns-name",
    "tsb.example.com",
    "--dns-server",
    "127.0.0.1:9",
    "--yes",
];

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_finds_every_plugin_under_both_spellings_without_warnings() {
    let world = World::start(SeedKind::Empty, SeedKind::Empty).await;
    let out = world.kubectl(&["plugin", "list"]).await;
    assert_eq!(
        out.code,
        Some(0),
        "kubectl plugin list failed: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("warning"),
        "plugin list warned: {}",
        out.stderr
    );
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .expect("git");
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_string();
    for plugin in PLUGINS {
        for name in [
            format!("kubectl-mp-{plugin}"),
            format!("kubectl-mp_{plugin}"),
        ] {
            assert!(
                out.stdout
                    .contains(&bin_dir().join(&name).display().to_string()),
                "{name} missing:\n{}",
                out.stdout
            );
        }
        for spelling in [
            vec![format!("mp-{plugin}")],
            vec!["mp".to_string(), plugin.to_string()],
        ] {
            let mut args: Vec<&str> = spelling.iter().map(String::as_str).collect();
            args.push("--version");
            let out = world.kubectl(&args).await;
            assert_eq!(out.code, Some(0), "kubectl {args:?}: {}", out.stderr);
            assert_eq!(
                out.stdout.trim(),
                format!(
                    "kubectl-mp-{plugin} {} (commit {commit})",
                    env!("CARGO_PKG_VERSION")
                )
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_plugin_help_has_examples_per_flag_group_the_exit_codes_and_its_role() {
    let world = World::start(SeedKind::Empty, SeedKind::Empty).await;
    for plugin in PLUGINS {
        let out = world.kubectl(&[&format!("mp-{plugin}"), "--help"]).await;
        assert_eq!(out.code, Some(0), "{plugin} --help failed");
        let role = format!("deploy/rbac/{plugin}");
        for needle in [
            "Cluster connection:",
            "--kubeconfig",
            "--request-timeout",
            "Examples:",
            "# Cluster connection",
            "# Output",
            "Exit codes:",
            "  3  cluster unreachable",
            "Permissions:",
            &role,
        ] {
            assert!(
                out.stdout.contains(needle),
                "kubectl mp-{plugin} --help lacks {needle:?}:\n{}",
                out.stdout
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_list_with_a_missing_file_works_and_an_unknown_context_is_one_usage_line() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let list = format!("/nonexistent/kubeconfig:{}", world.kubeconfig().display());
    let out = world
        .kubectl_with_kubeconfig(
            &["mp-export", "--context", "active", "-f", "b.yaml"],
            b"",
            list.as_ref(),
        )
        .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("exported 7 secrets from context \"active\""),
        "{}",
        out.stderr
    );

    let out = world
        .kubectl(&["mp-export", "--context", "nope", "-f", "c.yaml"])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("error: context \"nope\" not found in"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pass --context with one of: active"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    assert!(!world.path("c.yaml").exists());
}

/// stderr a pipe nobody reads any more (`2>&1 >/dev/null | head`): every
/// plugin still exits with its documented code, not a panic's 101.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_stderr_pipe_keeps_the_documented_exit_codes() {
    let world = World::start(SeedKind::Empty, SeedKind::Empty).await;
    // Valid flags, so the plugin's own error line (not clap's) is written.
    let commands = [
        "mp-export --context no-such-context -f b.yaml",
        "mp-import --context no-such-context -f b.yaml",
        "mp-cacheck --context no-such-context",
        "mp-failover --from no-such-context --to other --database shared --dns-backend manual --dns-name tsb.example --dns-server 127.0.0.1:53",
    ];
    for command in commands {
        // The reader is gone before the plugin writes its one error line.
        let script = format!(
            "(sleep 0.3; kubectl {command}) 2>&1 >/dev/null | true; echo \"${{PIPESTATUS[0]}}\""
        );
        let out = world.shell(&script).await;
        let code = out.stdout.trim();
        assert_eq!(code, "2", "{command}: exit {code}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pair_plugins_refuse_one_context_for_both_roles_and_missing_flags() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let out = world
        .kubectl(&[
            "mp-cacheck",
            "--active-context",
            "active",
            "--standby-context",
            "active",
        ])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the active and standby contexts are both \"active\""),
        "{}",
        out.stderr
    );

    let dns = [
        "--database",
        "shared",
        "--dns-backend",
        "manual",
        "--dns-server",
        "127.0.0.1:53",
        "--dns-name",
        "tsb.example.com",
    ];
    let mut same = vec!["mp-failover", "--from", "active", "--to", "active"];
    same.extend(dns);
    let out = world.kubectl(&same).await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("--from and --to are both \"active\""),
        "{}",
        out.stderr
    );

    // clap's own usage errors use the documented usage code too.
    let out = world
        .kubectl(&["mp-failover", "--from", "active", "--to", "standby"])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--database"), "{}", out.stderr);
}

fn fault(verb: Option<&str>, path: &str, action: FaultAction) -> FaultRule {
    FaultRule {
        verb: verb.map(str::to_string),
        path_contains: Some(path.into()),
        nth: None,
        times: None,
        action,
    }
}

/// A refused connection, a 401, a 403 and a timeout: kubectl fails on each
/// with the same kubeconfig, and the plugin says so in one line naming the
/// context and its server, exit 3, writing nothing.
#[tokio::test(flavor = "multi_thread")]
async fn unreachable_unauthorized_denied_and_silent_clusters_exit_3_with_one_line() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    let active = world.cluster("active");
    let server = active.server_url();
    // The export's first read: the MP's helm release, by helm's labels.
    let secrets = format!(
        "list helm release secrets (owner=helm,name=mp,status=deployed) in namespace {}",
        world.ns
    );
    let unknown_token = format!("{}-unknown", world.ns);
    world
        .kubectl(&[
            "config",
            "set-credentials",
            &unknown_token,
            "--token=not-a-token",
        ])
        .await
        .ok("kubectl config set-credentials");
    world
        .kubectl(&[
            "config",
            "set-context",
            &unknown_token,
            "--cluster=active",
            &format!("--user={unknown_token}"),
        ])
        .await
        .ok("kubectl config set-context");
    let denied = world.denied_context("active").await;

    let case = |context: String, setup: Setup, expected: &'static str, hint: &'static str| {
        (context, setup, expected, hint)
    };
    let cases = [
        case(
            "active".into(),
            Setup::Down,
            "cluster unreachable while trying to",
            "check the cluster is up",
        ),
        case(
            unknown_token.clone(),
            Setup::None,
            "unauthorized to",
            "refresh the credentials",
        ),
        case(denied.clone(), Setup::None, "forbidden to", "auth can-i"),
        case(
            "active".into(),
            Setup::Silent,
            "timed out trying to",
            "--request-timeout",
        ),
    ];
    for (context, setup, expected, hint) in cases {
        match setup {
            Setup::Down => active.set_down(true).await.expect("down"),
            Setup::Silent => active.add_fault(fault(None, "", FaultAction::Timeout)),
            Setup::None => {}
        }
        let kubectl = world
            .kubectl(&[
                "--context",
                &context,
                "get",
                "secrets",
                "-n",
                &world.ns,
                "--request-timeout",
                "2s",
            ])
            .await;
        let out = world
            .kubectl(&[
                "mp-export",
                "--context",
                &context,
                "-f",
                "b.yaml",
                "--request-timeout",
                "2s",
            ])
            .await;
        active.set_down(false).await.expect("up");
        active.clear_faults();
        let case = format!("{context} / {expected}");
        assert_ne!(kubectl.code, Some(0), "{case}: kubectl got through");
        assert_eq!(out.code, Some(3), "{case}: {}", out.stderr);
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{case}: {line}");
        assert!(
            line.contains(&format!(
                "context {context:?} ({server}): {expected} {secrets}"
            )),
            "{case}: {line}"
        );
        assert!(line.contains(hint), "{case}: {line}");
        assert!(!world.path("b.yaml").exists(), "{case}: nothing written");
    }
}

enum Setup {
    None,
    Down,
    Silent,
}

/// demo.sh and bench.sh find cargo's output through tests/plugins-on-path.sh:
/// with CARGO_TARGET_DIR unset, relative and absolute (a shared target
/// directory elsewhere), kubectl must find all eight plugin names.
#[test]
fn scripts_find_the_built_plugins_whatever_cargo_target_dir_is() {
    let profile = Path::new(env!("CARGO_BIN_EXE_mp-live"))
        .parent()
        .expect("cargo's profile directory");
    bin_dir(); // builds the plugins into that profile directory
    let profile_name = profile.file_name().unwrap().to_str().unwrap();
    let target_root = profile.parent().unwrap();
    let helper = workspace_root().join("tests/plugins-on-path.sh");
    let kubectl = plugin_support::plane().tools.join("kubectl");

    // The scripts run from the repository root; here a stand-in root whose
    // `target` and `shared/target` lead to the real target directory.
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(target_root, root.path().join("target")).unwrap();
    std::fs::create_dir(root.path().join("shared")).unwrap();
    std::os::unix::fs::symlink(target_root, root.path().join("shared/target")).unwrap();
    let absolute = root.path().join("shared/target").display().to_string();
    for (case, target_dir) in [
        ("unset", None),
        ("relative", Some("shared/target")),
        ("absolute", Some(absolute.as_str())),
    ] {
        let bin = root.path().join(format!("bin-{case}"));
        let mut script = Command::new("bash");
        script
            .arg("-c")
            .arg(r#". "$1" && link_plugins "$(profile_dir "$2")" "$3""#)
            .arg("bash")
            .arg(&helper)
            .arg(profile_name)
            .arg(&bin)
            .current_dir(root.path())
            .env_remove("CARGO_TARGET_DIR");
        if let Some(target_dir) = target_dir {
            script.env("CARGO_TARGET_DIR", target_dir);
        }
        let linked = script.output().unwrap();
        assert!(
            linked.status.success(),
            "{case}: {}",
            String::from_utf8_lossy(&linked.stderr)
        );

        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let listed = Command::new(&kubectl)
            .args(["plugin", "list"])
            .env("PATH", &path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&listed.stdout);
        let stderr = String::from_utf8_lossy(&listed.stderr);
        assert!(listed.status.success(), "{case}: {stderr}");
        assert!(!stderr.contains("warning"), "{case}: {stderr}");
        for plugin in PLUGINS {
            for name in [
                format!("kubectl-mp-{plugin}"),
                format!("kubectl-mp_{plugin}"),
            ] {
                assert!(
                    stdout.contains(&bin.join(&name).display().to_string()),
                    "{case}: {name} missing:\n{stdout}"
                );
            }
        }
        let version = Command::new(&kubectl)
            .args(["mp", "failover", "--version"])
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            version.status.success(),
            "{case}: kubectl mp failover --version"
        );
    }

    // A directory that is not there is one line saying what to do.
    let missing = Command::new("bash")
        .arg("-c")
        .arg(r#". "$1" && profile_dir release"#)
        .arg("bash")
        .arg(&helper)
        .current_dir(root.path())
        .env("CARGO_TARGET_DIR", "nowhere")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "no nowhere/release directory: build first (make build), from the repository root"
    );
}

/// Every plugin's error paths, and the outputs that describe secrets
/// (`-v`, `--diff`), with an MP's real secrets in play: no output shows any
/// 10 characters in a row of a secret value (raw or base64) of the
/// namespace or of the kubeconfig's credentials. Values under 10
/// characters (a user name such as `tsb`) are words, not checked.
#[tokio::test(flavor = "multi_thread")]
async fn no_error_path_shows_a_secret_value() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;

    let world = World::start(SeedKind::TsbGeneric, SeedKind::TsbGeneric).await;
    let exported = world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await;
    assert_eq!(exported.code, Some(0), "{}", exported.stderr);
    let bundle_text = std::fs::read_to_string(world.path("b.yaml")).unwrap();
    let bundle = kubectl_mp::secrets::bundle::Bundle::parse(&bundle_text, "b.yaml").unwrap();
    let kubeconfig_text = std::fs::read_to_string(world.kubeconfig()).unwrap();
    let mut values: Vec<String> = bundle
        .secrets
        .iter()
        .flat_map(kubectl_mp::secrets::redact::secret_values)
        .map(|(_, value)| String::from_utf8_lossy(&value).into_owned())
        .collect();
    values.extend(kubeconfig_text.lines().filter_map(|line| {
        line.split_once("-data: ")
            .map(|(_, value)| value.trim().to_string())
    }));
    let forbidden: Vec<String> = values
        .iter()
        .flat_map(|value| [value.clone(), BASE64.encode(value)])
        .flat_map(|form| {
            let chars: Vec<char> = form.chars().filter(|char| !char.is_whitespace()).collect();
            chars
                .windows(10)
                .map(|window| window.iter().collect::<String>())
                .filter(|window| !window.contains("-----"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(forbidden.len() > 1_000, "the MP's secrets were read");

    // Broken copies of the files that hold secrets.
    // The line after the first value, one column to the left: a parser
    // that quotes its source shows the value above it.
    let misindented = {
        let at = bundle_text
            .find("\ndata:\n")
            .or_else(|| bundle_text.find("  data:\n"))
            .expect("a data section");
        let value_line = at + bundle_text[at..].find(": ").unwrap();
        let next_line = value_line + bundle_text[value_line..].find('\n').unwrap() + 1;
        format!(
            "{}  bad\n{}",
            &bundle_text[..next_line],
            &bundle_text[next_line..]
        )
    };
    std::fs::write(world.path("broken.yaml"), &misindented).unwrap();
    let tampered = {
        let (head, tail) = bundle_text.split_at(bundle_text.len() / 2);
        format!("{head}{}", tail.replacen('A', "B", 1))
    };
    std::fs::write(world.path("tampered.yaml"), tampered).unwrap();
    let broken_kubeconfig = kubeconfig_text
        .replacen("-data: ", "-data:: ", 1)
        .replacen("\n  ", "\n ", 2);
    std::fs::write(world.path("kubeconfig-broken"), &broken_kubeconfig).unwrap();
    std::fs::write(
        world.path("stray.key"),
        "key \"mp-update\" { algorithm hmac-sha256; secret = \"AgZFG29C3/eggZ6cQsevie8jBA2JEpdJW65qtHlsxUY=\"; };\n",
    )
    .unwrap();
    let failover = "mp-failover --from active --to standby --database shared --dns-backend rfc2136 --dns-server 127.0.0.1:53 --dns-zone example --dns-name tsb.example --yes";
    let scripts = [
        "kubectl mp-export --context active -n \"$NS\" -f b.yaml".to_string(),
        "kubectl mp-export --context active -n \"$NS\" -f - -v".to_string(),
        "kubectl mp-import --context standby -n \"$NS\" -f b.yaml --diff --dry-run -v".to_string(),
        "kubectl mp-import --context standby -n \"$NS\" -f broken.yaml --yes".to_string(),
        "kubectl mp-import --context standby -n \"$NS\" -f tampered.yaml --yes".to_string(),
        "kubectl mp-cacheck --bundle broken.yaml --context standby -n \"$NS\"".to_string(),
        format!("kubectl {failover} --tsig-key-file stray.key"),
        "kubectl mp-export --kubeconfig kubeconfig-broken --context active -f x.yaml".to_string(),
        "kubectl mp-import --kubeconfig kubeconfig-broken --context standby -n \"$NS\" -f b.yaml --yes".to_string(),
        "kubectl mp-cacheck --kubeconfig kubeconfig-broken --context active".to_string(),
        format!("kubectl {failover} --kubeconfig kubeconfig-broken --tsig-key-file stray.key"),
    ];
    // Which of them must be refused: all but the -v export and the diff.
    let must_fail = |script: &str| !script.contains(" -v");
    for script in &scripts {
        let out = world.shell(script).await;
        assert_eq!(
            out.code == Some(0),
            !must_fail(script),
            "{script}: exit {:?}: {}",
            out.code,
            out.stderr
        );
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            // The bundle on stdout (`-f -`) is data the user asked for.
            if stream == "stdout" && script.contains("mp-export") && script.contains("-f -") {
                continue;
            }
            if let Some(leak) = forbidden
                .iter()
                .find(|window| text.contains(window.as_str()))
            {
                panic!("{script}: {stream} shows {leak:?} of a secret value:\n{text}");
            }
        }
    }
}

/// Issue 17: `-o` is the output format in every plugin, as in kubectl;
/// mp-export's bundle file is `-f FILE` (`--file`, `--filename`), with the
/// old flag's every behaviour. The old `-o FILE` is one line naming the
/// `-f` to pass, exit 2, before any request.
#[tokio::test(flavor = "multi_thread")]
async fn o_is_the_output_format_everywhere_and_exports_bundle_file_is_f() {
    let world = World::start(SeedKind::TsbHelm, SeedKind::Empty).await;
    for (value, hint) in [
        ("b.yaml", "; write the bundle to a file with -f b.yaml"),
        ("-", "; write the bundle to stdout with -f -"),
    ] {
        let out = world
            .kubectl(&["mp-export", "--context", "active", "-o", value])
            .await;
        assert_eq!(out.code, Some(2), "-o {value}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim_end(),
            format!(
                "error: -o {value}: -o/--output is the output format (text, json or yaml){hint}"
            )
        );
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    let failover = [
        "mp-failover",
        "--from",
        "active",
        "--to",
        "standby",
        "--database",
        "shared",
        "--dns-backend",
        "manual",
        "--dns-name",
        "tsb.example.com",
        "--dns-server",
        "127.0.0.1:53",
    ];
    for command in [
        &["mp-import", "--context", "standby", "-f", "b.yaml"][..],
        &["mp-cacheck", "--context", "active"][..],
        &failover[..],
    ] {
        let out = world.kubectl(&[command, &["-o", "b.yaml"]].concat()).await;
        assert_eq!(out.code, Some(2), "{command:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim_end(),
            "error: -o b.yaml: -o/--output is the output format (text, json or yaml); pass -o text, -o json or -o yaml",
            "{command:?}"
        );
    }
    // -o prometheus is the readiness check's alone.
    for command in [
        &["mp-export", "--context", "active"][..],
        &["mp-import", "--context", "standby", "-f", "b.yaml"][..],
        &["mp-cacheck", "--context", "active"][..],
        &failover[..],
    ] {
        let out = world
            .kubectl(&[command, &["-o", "prometheus"]].concat())
            .await;
        assert_eq!(out.code, Some(2), "{command:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim_end(),
            "error: -o prometheus is the readiness check's output; use it with kubectl mp-cacheck --readiness; here pass -o text, -o json or -o yaml",
            "{command:?}"
        );
        assert!(out.stdout.is_empty(), "{command:?}: {}", out.stdout);
    }
    assert!(!world.path("b.yaml").exists());
    assert_eq!(world.requests("active"), 0, "refused before any request");

    // -f FILE: mode 0600, never over a file without --force; --filename too.
    let out = world
        .kubectl(&["mp-export", "--context", "active", "-f", "b.yaml"])
        .await
        .ok("mp-export -f");
    assert!(out.stderr.contains("to b.yaml"), "{}", out.stderr);
    let mode = std::fs::metadata(world.path("b.yaml"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    let again = world
        .kubectl(&["mp-export", "--context", "active", "--file", "b.yaml"])
        .await;
    assert_eq!(again.code, Some(2), "{}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "--filename",
            "b.yaml",
            "--force",
        ])
        .await
        .ok("mp-export --filename --force");
    // -f - writes the bundle on stdout; without -f too when stdout is no terminal.
    for args in [&["-f", "-"][..], &[][..]] {
        let out = world
            .kubectl(&[&["mp-export", "--context", "active"][..], args].concat())
            .await
            .ok("mp-export to stdout");
        assert!(
            out.stdout.starts_with("# kubectl-mp bundle")
                && out
                    .stdout
                    .contains("\n# kubectl-mp/format: kubectl-mp.bundle/v1\n"),
            "{args:?}: {}",
            &out.stdout[..out.stdout.len().min(80)]
        );
    }
    // -o json|yaml takes stdout for the result: the bundle needs a file.
    for args in [&["-o", "json"][..], &["-f", "-", "-o", "yaml"][..]] {
        let out = world
            .kubectl(&[&["mp-export", "--context", "active"][..], args].concat())
            .await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("-f FILE"), "{args:?}: {}", out.stderr);
    }
}

/// Issue 17: with `-o json|yaml` every result is one document on stdout,
/// a failure's included, as the text tells it: what was done (secrets'
/// summaries, the plan, checks, steps with their times), the exit code,
/// the error line and its next step. Never a secret value.
#[tokio::test(flavor = "multi_thread")]
async fn every_result_is_one_json_or_yaml_document_failures_included() {
    use serde_json::Value;
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let yaml = |text: &str| -> Value {
        serde_saphyr::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
    };
    let json = |text: &str| -> Value {
        serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
    };

    // mp-export: the secrets' summaries (key names, sizes, digests).
    let out = world
        .kubectl(&[
            "mp-export",
            "--context",
            "active",
            "-f",
            "b.yaml",
            "-o",
            "json",
        ])
        .await
        .ok("mp-export -o json");
    let export = json(&out.stdout);
    assert_eq!(export["exitCode"], 0, "{export}");
    assert_eq!(export["context"], "active", "{export}");
    assert_eq!(export["namespace"], world.ns.as_str(), "{export}");
    assert_eq!(export["model"], "generic", "{export}");
    assert_eq!(export["file"], "b.yaml", "{export}");
    let secrets = export["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 12, "{export}");
    assert!(
        secrets
            .iter()
            .all(|secret| secret["keys"][0]["size"].as_u64().is_some()),
        "{export}"
    );
    assert!(export.get("error").is_none(), "{export}");
    let bundle_text = std::fs::read_to_string(world.path("b.yaml")).unwrap();
    let bundle = kubectl_mp::secrets::bundle::Bundle::parse(&bundle_text, "b.yaml").unwrap();
    let values: Vec<String> = bundle
        .secrets
        .iter()
        .flat_map(kubectl_mp::secrets::redact::secret_values)
        .map(|(_, value)| String::from_utf8_lossy(&value).into_owned())
        .filter(|value| value.len() >= 10)
        .collect();
    let no_value = |text: &str, what: &str| {
        for value in &values {
            let probe: String = value.chars().take(10).collect();
            assert!(
                !text.contains(&probe),
                "{what} shows a secret value: {text}"
            );
        }
    };
    no_value(&out.stdout, "mp-export -o json");

    // mp-import stopped midway: the plan, what it created, and how to converge.
    world.cluster("standby").add_fault(FaultRule {
        verb: Some("create".into()),
        path_contains: Some("/secrets".into()),
        nth: Some(3),
        times: Some(1),
        action: FaultAction::Status(500),
    });
    let out = world
        .kubectl(&[
            "mp-import",
            "--context",
            "standby",
            "-f",
            "b.yaml",
            "--yes",
            "-o",
            "yaml",
        ])
        .await;
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let import = yaml(&out.stdout);
    assert_eq!(import["exitCode"], 4, "{import}");
    assert!(
        import["error"]
            .as_str()
            .unwrap()
            .starts_with("import stopped midway: wrote "),
        "{import}"
    );
    assert!(
        import["nextStep"]
            .as_str()
            .unwrap()
            .contains("run the same import again: it converges"),
        "{import}"
    );
    assert_eq!(import["namespaceCreated"], true, "{import}");
    assert_eq!(import["verified"], false, "{import}");
    assert_eq!(import["secrets"].as_array().unwrap().len(), 12, "{import}");
    assert!(
        out.stderr.contains(&format!(
            "error: {}; {}",
            import["error"].as_str().unwrap(),
            import["nextStep"].as_str().unwrap()
        )),
        "the document holds the line stderr shows: {}",
        out.stderr
    );
    no_value(&out.all(), "mp-import -o yaml");
    let out = world
        .kubectl(&[
            "mp-import",
            "--context",
            "standby",
            "-f",
            "b.yaml",
            "--yes",
            "-o",
            "json",
        ])
        .await
        .ok("the import converges");
    let import = json(&out.stdout);
    assert_eq!(
        (import["exitCode"].clone(), import["verified"].clone()),
        (0.into(), true.into())
    );

    // mp-cacheck with its cluster down: exit 3, the line and its next step.
    let standby = world.cluster("standby");
    standby.set_down(true).await.unwrap();
    let out = world
        .kubectl(&[
            "mp-cacheck",
            "--context",
            "standby",
            "-o",
            "json",
            "--request-timeout",
            "5s",
        ])
        .await;
    standby.set_down(false).await.unwrap();
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    let cacheck = json(&out.stdout);
    assert_eq!(cacheck["exitCode"], 3, "{cacheck}");
    assert!(
        cacheck["error"]
            .as_str()
            .unwrap()
            .starts_with(&format!("context \"standby\" ({})", standby.server_url())),
        "{cacheck}"
    );
    assert!(cacheck["nextStep"].as_str().is_some(), "{cacheck}");

    // mp-failover stopped by its preflight (no MP on the standby): its checks, its step.
    let as_json: Vec<&str> = MANUAL_FAILOVER
        .iter()
        .copied()
        .chain(["-o", "json"])
        .collect();
    let out = world.kubectl(&as_json).await;
    let failover = json(&out.stdout);
    assert_eq!(
        Some(failover["exitCode"].as_i64().unwrap() as i32),
        out.code
    );
    assert_ne!(out.code, Some(0), "{}", out.stderr);
    assert!(failover["error"].as_str().is_some(), "{failover}");
    assert!(
        failover["preflight"]
            .as_array()
            .unwrap()
            .iter()
            .any(|check| check["status"] == "fail"),
        "{failover}"
    );
    assert_eq!(failover["steps"][0]["step"], "preflight", "{failover}");
    assert_eq!(failover["steps"][0]["status"], "failed", "{failover}");
    assert!(
        failover["steps"][0]["seconds"].as_f64().is_some(),
        "{failover}"
    );
    no_value(&out.all(), "mp-failover -o json");

    // Flags clap refuses: its usage on stderr, the document on stdout.
    for (args, parse) in [
        (
            &["mp-cacheck", "--bogus", "-o", "json"][..],
            &json as &dyn Fn(&str) -> Value,
        ),
        (&["mp-import", "-oyaml", "--bogus"][..], &yaml),
    ] {
        let out = world.kubectl(args).await;
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.stderr);
        let document = parse(&out.stdout);
        assert_eq!(document["exitCode"], 2, "{document}");
        assert_eq!(
            document["error"], "unexpected argument '--bogus' found",
            "{document}"
        );
        assert!(out.stderr.contains("Usage:"), "{}", out.stderr);
    }
}

/// Issue 17: every request says which plugin, and which version, sent it
/// (`User-Agent: kubectl-mp-<plugin>/<version>`), so the API server's audit
/// log tells who did what; kubectl's own says kubectl.
#[tokio::test(flavor = "multi_thread")]
async fn every_request_names_its_plugin_and_version_in_user_agent() {
    let world = World::start(SeedKind::TsbGeneric, SeedKind::Empty).await;
    let version = env!("CARGO_PKG_VERSION");
    let agents = |cluster: &str| {
        let agents = world.cluster(cluster).user_agents();
        world.cluster(cluster).reset_counters();
        agents
    };
    world
        .kubectl(&["--context", "active", "get", "secrets", "-n", &world.ns])
        .await
        .ok("kubectl get secrets");
    let kubectl = agents("active");
    assert!(
        kubectl
            .keys()
            .all(|agent| agent.starts_with("kubectl/v1.36")),
        "{kubectl:?}"
    );
    let runs: [(&str, &[&str], &[&str]); 4] = [
        (
            "export",
            &["mp-export", "--context", "active", "-f", "b.yaml"],
            &["active"],
        ),
        (
            "import",
            &["mp-import", "--context", "standby", "-f", "b.yaml", "--yes"],
            &["standby"],
        ),
        (
            "cacheck",
            &[
                "mp-cacheck",
                "--active-context",
                "active",
                "--standby-context",
                "standby",
            ],
            &["active", "standby"],
        ),
        ("failover", &MANUAL_FAILOVER, &["active", "standby"]),
    ];
    for (plugin, args, clusters) in runs {
        let out = world.kubectl(args).await;
        assert!(out.code.is_some(), "{plugin}: {}", out.stderr);
        for cluster in clusters {
            let seen = agents(cluster);
            let expected = format!("kubectl-mp-{plugin}/{version}");
            assert_eq!(
                seen.keys().collect::<Vec<_>>(),
                [&expected],
                "{plugin} on {cluster}: {seen:?}"
            );
            assert!(seen[&expected] > 0);
        }
    }
}
