//! Writing files that may hold secrets: mode 0600, atomically (a temporary
//! file in the same directory, then a rename), never over an existing file
//! unless the user said `--force`.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `contents` to `path` with mode 0600. A crash or error leaves either
/// the old file or none, never half a file.
///
/// A `path` that exists and is no regular file (a device such as
/// `/dev/null` or `/dev/stdout`, a named pipe) is written in place: it holds
/// no data to keep, and renaming over it would replace the device itself
/// with a file.
pub fn write_private(path: &Path, contents: &[u8], force: bool) -> Result<()> {
    let fail = |what: &str, error: std::io::Error| {
        Error::usage(format!("cannot write {}: {what}: {error}", path.display()))
            .with_next_step("check the directory exists and is writable")
    };
    if std::fs::metadata(path).is_ok_and(|metadata| !metadata.is_file() && !metadata.is_dir()) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| file.write_all(contents))
            .map_err(|error| fail("write failed", error));
    }
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

    /// A named pipe (as /dev/null or /dev/stdout would be) is written
    /// through, with or without --force, and stays what it was.
    #[test]
    fn a_device_or_pipe_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for force in [false, true] {
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || std::fs::read(fifo).unwrap())
            };
            write_private(&fifo, b"bundle", force).unwrap();
            assert_eq!(reader.join().unwrap(), b"bundle");
            assert!(
                std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
                "force={force}: still a pipe"
            );
        }
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
