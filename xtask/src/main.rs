//! Distribution files generated from the one source of truth: shell
//! completions and man pages from the plugins' clap definitions (`make
//! install`), and krew manifests from the archives `make dist` built, so their
//! versions and sha256 sums can never drift from what is released. The
//! workspace's project tooling, in `xtask/` as cargo's convention has it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use clap_complete::Shell;

#[derive(Debug, Parser)]
#[command(
    name = "mp-dist",
    version,
    about = "Completions, man pages and krew manifests for the kubectl-mp plugins"
)]
enum Args {
    /// Write completions/{bash,zsh,fish}/ and man/man1/ for every plugin
    Docs {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write one krew manifest per plugin from the archives in DIST/sha256sums.txt
    Krew {
        #[arg(long, value_name = "DIR")]
        dist: PathBuf,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// What krew shows about a plugin; its flags come from its clap `Cli`.
struct Plugin {
    /// `export` for `kubectl-mp-export` and the krew plugin `mp-export`.
    name: &'static str,
    command: fn() -> clap::Command,
    short_description: &'static str,
    description: &'static str,
}

impl Plugin {
    fn binary(&self) -> String {
        format!("kubectl-mp-{}", self.name)
    }

    /// The command as invoked directly, which is the name completions
    /// register for (clap's bin_name is `kubectl mp-x`, for help text only).
    fn clap_command(&self) -> clap::Command {
        kubectl_mp::ui::cli::with_permissions_help((self.command)()).bin_name(self.binary())
    }
}

const PLUGINS: [Plugin; 4] = [
    Plugin {
        name: "export",
        command: kubectl_mp::export::Cli::command,
        short_description: "Export a TSB Management Plane's secrets for its standby",
        description: "Runbook step 1 of Tetrate Service Bridge's Active/Standby Management Plane\n\
            pair: snapshots the secrets the standby MP needs from the active one (helm\n\
            or generic install model, detected) into a digest-protected bundle that\n\
            kubectl apply also takes, and writes the standby's install values.\n\
            Secret values are never printed.",
    },
    Plugin {
        name: "import",
        command: kubectl_mp::import::Cli::command,
        short_description: "Import a TSB Management Plane secret bundle on the standby",
        description: "Runbook step 2 of Tetrate Service Bridge's Active/Standby Management Plane\n\
            pair: verifies a bundle from kubectl mp-export, shows the plan (create,\n\
            update, unchanged), backs up what it replaces, applies the Secrets on the\n\
            standby cluster and reads them back. Re-running converges.",
    },
    Plugin {
        name: "cacheck",
        command: kubectl_mp::cacheck::Cli::command,
        short_description: "Check that both TSB Management Planes share one root CA",
        description: "The CA caution of Tetrate Service Bridge's Active/Standby Management Plane\n\
            runbook: checks that the certificates of both MPs (clusters or export\n\
            bundles) chain to the same root CA, are valid, cover the floating DNS name\n\
            and match their keys, and flags cert-manager self-signed roots.",
    },
    Plugin {
        name: "failover",
        command: kubectl_mp::failover::Cli::command,
        short_description: "Fail a TSB Management Plane over to its standby and back",
        description: "Fails Tetrate Service Bridge's Management Plane over from the active cluster\n\
            to the standby: preflight checks, database copy, fencing the old MP\n\
            (operator first), activating the standby, repointing DNS and verifying.\n\
            Journaled and resumable; also fails back. tctl keeps working through the\n\
            floating DNS name.",
    },
];

const SHELLS: [(Shell, &str); 3] = [
    (Shell::Bash, "bash"),
    (Shell::Zsh, "zsh"),
    (Shell::Fish, "fish"),
];

/// File name each shell's completion loader looks for.
fn completion_file_name(shell: Shell, binary: &str) -> String {
    match shell {
        Shell::Zsh => format!("_{binary}"),
        Shell::Fish => format!("{binary}.fish"),
        _ => binary.to_string(),
    }
}

fn write_docs(out: &Path) -> Result<(), String> {
    let man_dir = out.join("man/man1");
    create_dir(&man_dir)?;
    for (_, shell_dir) in SHELLS {
        create_dir(&out.join("completions").join(shell_dir))?;
    }
    for plugin in &PLUGINS {
        let binary = plugin.binary();
        for (shell, shell_dir) in SHELLS {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut plugin.clap_command(), &binary, &mut script);
            let path = out
                .join("completions")
                .join(shell_dir)
                .join(completion_file_name(shell, &binary));
            write_file(&path, &script)?;
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(plugin.clap_command())
            .render(&mut page)
            .map_err(|error| format!("rendering the man page of {binary}: {error}"))?;
        write_file(&man_dir.join(format!("{binary}.1")), &page)?;
    }
    Ok(())
}

/// One platform's release archive, as listed in sha256sums.txt.
#[derive(Debug, PartialEq, Eq)]
struct Archive {
    file_name: String,
    os: String,
    arch: String,
    sha256: String,
}

/// Archives by plugin name, from `sha256sum` output (`<hex>  <file>`); names
/// are `kubectl-mp-<plugin>_<os>_<arch>.tar.gz`.
fn parse_sha256sums(text: &str) -> Result<BTreeMap<String, Vec<Archive>>, String> {
    let mut archives: BTreeMap<String, Vec<Archive>> = BTreeMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let (sha256, file_name) = line
            .split_once("  ")
            .ok_or_else(|| format!("sha256sums.txt: not `<sha256>  <file>`: {line:?}"))?;
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(format!(
                "sha256sums.txt: {file_name}: not a lowercase sha256: {sha256:?}"
            ));
        }
        let unexpected =
            || format!("sha256sums.txt: {file_name}: not kubectl-mp-<plugin>_<os>_<arch>.tar.gz");
        let stem = file_name.strip_suffix(".tar.gz").ok_or_else(unexpected)?;
        let (binary, platform) = stem.split_once('_').ok_or_else(unexpected)?;
        let (os, arch) = platform.split_once('_').ok_or_else(unexpected)?;
        let plugin = binary.strip_prefix("kubectl-mp-").ok_or_else(unexpected)?;
        if !PLUGINS.iter().any(|known| known.name == plugin) {
            return Err(format!(
                "sha256sums.txt: {file_name}: no plugin named {plugin}"
            ));
        }
        archives
            .entry(plugin.to_string())
            .or_default()
            .push(Archive {
                file_name: file_name.to_string(),
                os: os.to_string(),
                arch: arch.to_string(),
                sha256: sha256.to_string(),
            });
    }
    Ok(archives)
}

fn render_manifest(
    plugin: &Plugin,
    archives: &[Archive],
    version: &str,
    repository: &str,
) -> String {
    let binary = plugin.binary();
    let mut yaml = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        yaml,
        "# Generated by `make dist` from the archives it built; edit xtask/src/main.rs instead.\n\
         apiVersion: krew.googlecontainertools.github.com/v1alpha2\n\
         kind: Plugin\n\
         metadata:\n  name: mp-{name}\n\
         spec:\n  version: v{version}\n  homepage: {repository}\n\
         \x20 shortDescription: {short}\n  description: |\n",
        name = plugin.name,
        short = plugin.short_description,
    );
    for line in plugin.description.lines() {
        let _ = writeln!(yaml, "    {line}");
    }
    yaml.push_str("  platforms:\n");
    let mut sorted: Vec<&Archive> = archives.iter().collect();
    sorted.sort_by(|a, b| (&a.os, &a.arch).cmp(&(&b.os, &b.arch)));
    for archive in sorted {
        let _ = write!(
            yaml,
            "    - selector:\n        matchLabels:\n          os: {os}\n          arch: {arch}\n\
             \x20     uri: {repository}/releases/download/v{version}/{file}\n\
             \x20     sha256: {sha256}\n\
             \x20     files:\n        - from: {binary}\n          to: .\n        - from: LICENSE\n          to: .\n\
             \x20     bin: {binary}\n",
            os = archive.os,
            arch = archive.arch,
            file = archive.file_name,
            sha256 = archive.sha256,
        );
    }
    yaml
}

fn write_krew_manifests(dist: &Path, out: &Path) -> Result<(), String> {
    let sums_path = dist.join("sha256sums.txt");
    let sums = fs::read_to_string(&sums_path)
        .map_err(|error| format!("{}: {error}", sums_path.display()))?;
    let archives = parse_sha256sums(&sums)?;
    create_dir(out)?;
    for plugin in &PLUGINS {
        let plugin_archives = archives.get(plugin.name).ok_or_else(|| {
            format!(
                "{}: no archive of kubectl-mp-{}",
                sums_path.display(),
                plugin.name
            )
        })?;
        let manifest = render_manifest(
            plugin,
            plugin_archives,
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_REPOSITORY"),
        );
        write_file(
            &out.join(format!("mp-{}.yaml", plugin.name)),
            manifest.as_bytes(),
        )?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|error| format!("{}: {error}", dir.display()))
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    fs::write(path, contents).map_err(|error| format!("{}: {error}", path.display()))
}

fn main() -> ExitCode {
    let result = match Args::parse() {
        Args::Docs { out } => write_docs(&out),
        Args::Krew { dist, out } => write_krew_manifests(&dist, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mp-dist: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const SHA_B: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    #[test]
    fn sha256sums_are_grouped_by_plugin_with_their_platforms() {
        let sums = format!(
            "{SHA_A}  kubectl-mp-export_linux_amd64.tar.gz\n{SHA_B}  kubectl-mp-export_darwin_arm64.tar.gz\n\n"
        );
        let archives = parse_sha256sums(&sums).unwrap();
        assert_eq!(archives.len(), 1);
        let export = &archives["export"];
        assert_eq!(
            export[1],
            Archive {
                file_name: "kubectl-mp-export_darwin_arm64.tar.gz".into(),
                os: "darwin".into(),
                arch: "arm64".into(),
                sha256: SHA_B.into(),
            }
        );
        assert_eq!(
            (export[0].os.as_str(), export[0].arch.as_str()),
            ("linux", "amd64")
        );
    }

    #[test]
    fn malformed_sha256sums_lines_are_refused() {
        let upper = SHA_A.to_uppercase();
        for line in [
            format!("{upper}  kubectl-mp-export_linux_amd64.tar.gz"),
            format!("{}  kubectl-mp-export_linux_amd64.tar.gz", &SHA_A[1..]),
            format!("{SHA_A} kubectl-mp-export_linux_amd64.tar.gz"),
            format!("{SHA_A}  kubectl-mp-export_linux_amd64.zip"),
            format!("{SHA_A}  kubectl-mp-export_linux.tar.gz"),
            format!("{SHA_A}  kubectl-mp-unknown_linux_amd64.tar.gz"),
            format!("{SHA_A}  other_linux_amd64.tar.gz"),
        ] {
            assert!(parse_sha256sums(&line).is_err(), "accepted {line:?}");
        }
    }

    #[test]
    fn manifest_names_the_release_archive_its_sum_and_the_binary() {
        let archives = [
            Archive {
                file_name: "kubectl-mp-cacheck_linux_arm64.tar.gz".into(),
                os: "linux".into(),
                arch: "arm64".into(),
                sha256: SHA_B.into(),
            },
            Archive {
                file_name: "kubectl-mp-cacheck_linux_amd64.tar.gz".into(),
                os: "linux".into(),
                arch: "amd64".into(),
                sha256: SHA_A.into(),
            },
        ];
        let yaml = render_manifest(&PLUGINS[2], &archives, "1.2.3", "https://example.com/o/r");
        assert!(yaml.contains("\nmetadata:\n  name: mp-cacheck\n"), "{yaml}");
        assert!(yaml.contains("\n  version: v1.2.3\n"), "{yaml}");
        assert!(
            yaml.contains("\n  homepage: https://example.com/o/r\n"),
            "{yaml}"
        );
        let amd64 = yaml.find("arch: amd64").unwrap();
        let arm64 = yaml.find("arch: arm64").unwrap();
        assert!(amd64 < arm64, "platforms are sorted: {yaml}");
        assert!(yaml.contains(&format!(
            "uri: https://example.com/o/r/releases/download/v1.2.3/kubectl-mp-cacheck_linux_amd64.tar.gz\n      sha256: {SHA_A}\n"
        )));
        assert!(yaml.contains("      bin: kubectl-mp-cacheck\n"), "{yaml}");
    }

    #[test]
    fn docs_cover_every_plugin_in_every_shell_and_a_man_page() {
        let out = tempfile::tempdir().unwrap();
        write_docs(out.path()).unwrap();
        for plugin in &PLUGINS {
            let binary = plugin.binary();
            for (shell, dir) in SHELLS {
                let path = out
                    .path()
                    .join("completions")
                    .join(dir)
                    .join(completion_file_name(shell, &binary));
                let script = fs::read_to_string(&path).unwrap();
                assert!(
                    script.contains(&binary),
                    "{} does not name {binary}",
                    path.display()
                );
            }
            let page = fs::read_to_string(out.path().join(format!("man/man1/{binary}.1"))).unwrap();
            assert!(
                page.starts_with(".ie"),
                "not roff: {}",
                &page[..40.min(page.len())]
            );
            assert!(
                page.contains(&binary.replace('-', "\\-")),
                "man page of {binary} does not name it"
            );
        }
    }
}
