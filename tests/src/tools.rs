//! Where the real plane's tools are: kubectl 1.36, kube-apiserver, etcd,
//! helm, kwok, built from their Go modules by `kube/build-tools.sh`.

use std::path::PathBuf;

/// The directory holding the built tools, building them first when the
/// cache lacks them (about 5-25 minutes cold on 2 cores, a second warm).
///
/// # Errors
/// The build script's own message (e.g. Go missing), or bash not runnable.
pub fn kube_tools_dir() -> std::io::Result<PathBuf> {
    let output = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/kube/build-tools.sh"))
        .output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "tests/kube/build-tools.sh failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}
