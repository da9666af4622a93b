//! Writing files that may hold secrets: mode 0600, atomically (a temporary
//! file in the same directory, then a rename), never over an existing file
//! unless the user said `--force`.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `contents` to `path` with mode 0600. A crash or error leaves either
/// the old file or none, never half a file.
pub fn write_private(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    let fail = |what: &str, error: std::io::Error| {
        Error::usage(format!("cannot write {}: {what}: {error}", path.display()))
            .with_next_step("check the directory exists and is writable")
    };
    if !force && path.exists() {
        return Err(Error::usage(format!("{} already exists", path.display()))
            .with_next_step("choose another file, or pass --force to replace it"));
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // tempfile creates the file with mode 0600 on Unix.
    let mut temp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|error| fail("cannot create a temporary file", error))?;
    temp.write_all(contents)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|error| fail("write failed", error))?;
    let persisted = if force {
        temp.persist(path)
    } else {
        temp.persist_noclobber(path)
    };
    persisted.map_err(|error| {
        if error.error.kind() == std::io::ErrorKind::AlreadyExists {
            Error::usage(format!("{} already exists", path.display()))
                .with_next_step("choose another file, or pass --force to replace it")
        } else {
            fail("rename failed", error.error)
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_with_mode_0600_and_refuses_to_overwrite_without_force() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("bundle.yaml");
        write_private(&path, b"first", false).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let error = write_private(&path, b"second", false).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("already exists; choose another file, or pass --force"),
            "{error}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"first",
            "a refused write leaves the file alone"
        );

        write_private(&path, b"second", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers = std::fs::read_dir(temp.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }

    #[test]
    fn a_missing_directory_is_a_usage_error_naming_the_file() {
        let error =
            write_private(Path::new("/nonexistent-dir/bundle.yaml"), b"x", false).unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(
            error.to_string().contains("/nonexistent-dir/bundle.yaml"),
            "{error}"
        );
    }
}
