//! Stamps the git commit into `--version`, so a binary in a user's PATH can be
//! traced back to the source it was built from.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .filter(|text| !text.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=KUBECTL_MP_COMMIT={commit}");
    // Rebuild when HEAD moves: HEAD itself (branch switch, per worktree) and
    // the branch ref it points to (in the common dir, shared by worktrees).
    // Cargo treats a watched file that does not exist as always changed, so
    // only existing files are watched: a ref that is only packed is followed
    // through packed-refs and its directory, where the next commit creates it.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        let common_dir = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(&git_dir));
        let packed_refs = common_dir.join("packed-refs");
        if packed_refs.exists() {
            println!("cargo:rerun-if-changed={}", packed_refs.display());
        }
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let loose = common_dir.join(&reference);
            let watched = match loose.parent() {
                Some(directory) if !loose.exists() => directory.to_path_buf(),
                _ => loose,
            };
            println!("cargo:rerun-if-changed={}", watched.display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
