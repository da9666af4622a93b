//! A bounded fuzz run of the parsers that read secrets from files (the
//! bundle, kubeconfigs, TSIG key files): documents holding known secret
//! values, mutated at random (stray characters, broken indentation,
//! duplicated or cut lines), must never make an error show any part of a
//! value, raw or base64.
//!
//! Deterministic by default (a fixed seed, `FUZZ_ITERATIONS` mutations per
//! parser, 4,000 unless set); `FUZZ_SEED` replays or varies a run.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kubectl_mp::dns::TsigKey;
use kubectl_mp::kube::kubeconfig::LoadedKubeconfig;
use kubectl_mp::secrets::bundle::{Bundle, Model, Provenance};

/// Values that look like nothing else in the documents, so any 10
/// characters of one in a message can only have come from the value.
const SECRETS: [&str; 3] = [
    "Qz7vK2mW9xT4pL8rN3sD6fH1jB5gY0cU",
    "hunter2-PIN-4711-zq",
    "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n",
];
/// Characters of a value that may not appear in a row in any output.
const WINDOW: usize = 10;

/// A small xorshift generator: the run is reproducible from its seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(4_000)
}

fn random() -> Random {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0x006b_7562_6563_746c);
    Random(seed | 1)
}

/// One to three random edits of `text`, as a hand or a broken pipe makes them.
fn mutate(text: &str, random: &mut Random) -> String {
    const STRAY: &[&str] = &[
        ":",
        " ",
        "\t",
        "\"",
        "'",
        "-",
        "{",
        "}",
        "[",
        "]",
        "&a",
        "*a",
        "!",
        "%",
        "\n",
        "=",
        ";",
        "#",
        ",",
        "? ",
        "|",
        ">",
        "\n  ",
        "key: dup\n",
    ];
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..=random.below(3) {
        let line = random.below(lines.len());
        match random.below(6) {
            0 => {
                let at = random.below(lines[line].len() + 1);
                if lines[line].is_char_boundary(at) {
                    lines[line].insert_str(at, STRAY[random.below(STRAY.len())]);
                }
            }
            1 => {
                lines[line] = format!(
                    "{}{}",
                    " ".repeat(random.below(5)),
                    lines[line].trim_start()
                )
            }
            2 => {
                let copy = lines[line].clone();
                lines.insert(random.below(lines.len() + 1), copy);
            }
            3 => {
                let cut = random.below(lines[line].len() + 1);
                if lines[line].is_char_boundary(cut) {
                    lines[line].truncate(cut);
                }
            }
            4 => {
                let other = random.below(lines.len());
                lines.swap(line, other);
            }
            _ => {
                lines.remove(line);
                if lines.is_empty() {
                    lines.push(String::new());
                }
            }
        }
    }
    lines.join("\n")
}

/// Every WINDOW-character run of every secret, raw and base64.
fn forbidden() -> Vec<String> {
    SECRETS
        .iter()
        .flat_map(|value| [value.to_string(), BASE64.encode(value)])
        .flat_map(|form| {
            let chars: Vec<char> = form.chars().collect();
            chars
                .windows(WINDOW)
                .map(|window| window.iter().collect::<String>())
                .filter(|window| !window.contains("-----") && !window.contains('\n'))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn assert_no_secret(what: &str, document: &str, shown: &str, forbidden: &[String]) {
    if let Some(leak) = forbidden
        .iter()
        .find(|window| shown.contains(window.as_str()))
    {
        panic!(
            "{what}: the error shows {leak:?} of a secret value:\n{shown}\n--- document:\n{document}"
        );
    }
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let mut secret = Secret::default();
    secret.metadata.name = Some(name.into());
    secret.metadata.namespace = Some("tsb".into());
    secret.data = Some(
        data.iter()
            .map(|(key, value)| (key.to_string(), ByteString(value.as_bytes().to_vec())))
            .collect(),
    );
    secret
}

fn bundle_text() -> String {
    let provenance = Provenance {
        context: "active".into(),
        server: "https://127.0.0.1:6443".into(),
        namespace: "tsb".into(),
        model: Model::Generic,
        exported_at: "2026-12-01T00:00:00Z".into(),
        tool: "fuzz".into(),
    };
    Bundle::new(
        provenance,
        vec![
            secret("ldap-credentials", &[("bindpassword", SECRETS[0])]),
            secret("admin-credentials", &[("admin", SECRETS[1])]),
            secret("tsb-certs", &[("tls.key", SECRETS[2])]),
        ],
    )
    .render()
    .expect("a bundle renders")
}

fn kubeconfig_text() -> String {
    format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: active\nclusters:\n- name: active\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: active\n  context:\n    cluster: active\n    user: admin\nusers:\n- name: admin\n  user:\n    token: {}\n    client-key-data: {}\n    password: {}\n",
        SECRETS[0],
        BASE64.encode(SECRETS[2]),
        SECRETS[1]
    )
}

fn tsig_text() -> String {
    format!(
        "key \"mp-update\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{}\";\n}};\n",
        BASE64.encode(SECRETS[0])
    )
}

/// Mutates `document` `iterations()` times, parses each with `parse`
/// (which returns its error as shown, if any), and checks the errors.
/// Returns how many mutations were refused, so a run that never reached an
/// error path fails.
fn fuzz(what: &str, document: &str, parse: impl Fn(&str) -> Option<String>) -> usize {
    let forbidden = forbidden();
    let mut random = random();
    let mut refused = 0;
    for _ in 0..iterations() {
        let mutated = mutate(document, &mut random);
        if let Some(shown) = parse(&mutated) {
            refused += 1;
            assert_no_secret(what, &mutated, &shown, &forbidden);
        }
    }
    refused
}

fn written(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the mutated file");
    path
}

#[test]
fn bundle_errors_never_show_a_secret() {
    let document = bundle_text();
    assert!(
        Bundle::parse(&document, "b.yaml").is_ok(),
        "the seed parses"
    );
    let refused = fuzz("bundle", &document, |text| {
        Bundle::parse(text, "b.yaml")
            .err()
            .map(|error| error.to_string())
    });
    assert!(
        refused > iterations() / 4,
        "only {refused} mutations refused"
    );
}

#[test]
fn kubeconfig_errors_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let document = kubeconfig_text();
    let seed = written(dir.path(), "seed", &document);
    assert!(
        LoadedKubeconfig::load_list(&[seed]).is_ok(),
        "the seed loads"
    );
    let refused = fuzz("kubeconfig", &document, |text| {
        let path = written(dir.path(), "config", text);
        LoadedKubeconfig::load_list(&[path])
            .err()
            .map(|error| error.to_string())
    });
    assert!(
        refused > iterations() / 10,
        "only {refused} mutations refused"
    );
}

#[test]
fn tsig_key_file_errors_never_show_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let document = tsig_text();
    assert!(TsigKey::from_file(&written(dir.path(), "seed.key", &document)).is_ok());
    let refused = fuzz("TSIG key file", &document, |text| {
        TsigKey::from_file(&written(dir.path(), "mutated.key", text))
            .err()
            .map(|error| error.to_string())
    });
    assert!(
        refused > iterations() / 4,
        "only {refused} mutations refused"
    );
}
