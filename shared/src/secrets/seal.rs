//! age encryption for bundles that travel: ASCII-armored, to one or more
//! X25519 recipients (`age1…`), opened with an identity file.

use std::io::{BufReader, Read, Write};
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};

const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
const BINARY_BEGIN: &[u8] = b"age-encryption.org/v1";

/// True when `bytes` are an age file (armored or binary).
pub fn is_encrypted(bytes: &[u8]) -> bool {
    let start = bytes.trim_ascii_start();
    start.starts_with(ARMOR_BEGIN) || start.starts_with(BINARY_BEGIN)
}

/// Encrypts `plaintext` to every recipient, as an armored age file.
pub fn encrypt(plaintext: &[u8], recipients: &[String]) -> Result<Vec<u8>> {
    let parsed = recipients
        .iter()
        .map(|text| {
            age::x25519::Recipient::from_str(text).map_err(|error| {
                Error::usage(format!(
                    "--encrypt-to {text:?} is not an age recipient: {error}"
                ))
                .with_next_step(
                    "pass an X25519 recipient (age1…), e.g. from `age-keygen -y KEYFILE`",
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let failed = |error: &dyn std::fmt::Display| {
        Error::failed(format!("cannot encrypt the bundle: {error}"))
    };
    let encryptor = age::Encryptor::with_recipients(
        parsed
            .iter()
            .map(|recipient| recipient as &dyn age::Recipient),
    )
    .map_err(|error| failed(&error))?;
    let armor = age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor)
        .map_err(|error| failed(&error))?;
    let mut writer = encryptor
        .wrap_output(armor)
        .map_err(|error| failed(&error))?;
    writer
        .write_all(plaintext)
        .map_err(|error| failed(&error))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|error| failed(&error))
}

/// Decrypts an age file from `origin` with the identities in `identity_file`.
pub fn decrypt(ciphertext: &[u8], identity_file: Option<&Path>, origin: &str) -> Result<Vec<u8>> {
    let Some(identity_file) = identity_file else {
        return Err(
            Error::usage(format!("bundle {origin} is encrypted with age"))
                .with_next_step("pass --identity FILE with the age identity it was encrypted to"),
        );
    };
    let text = std::fs::File::open(identity_file).map_err(|error| {
        Error::usage(format!(
            "cannot read identity file {}: {error}",
            identity_file.display()
        ))
        .with_next_step("check the path given with --identity")
    })?;
    let identities = age::IdentityFile::from_buffer(BufReader::new(text))
        .map_err(|error| error.to_string())
        .and_then(|file| file.into_identities().map_err(|error| error.to_string()))
        .map_err(|error| {
            Error::usage(format!(
                "identity file {} is not an age identity file: {error}",
                identity_file.display()
            ))
            .with_next_step("use a file made by age-keygen")
        })?;
    let cannot = |error: &dyn std::fmt::Display| {
        Error::usage(format!(
            "cannot decrypt bundle {origin} with {}: {error}",
            identity_file.display()
        ))
        .with_next_step("use the identity matching a recipient it was encrypted to")
    };
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(ciphertext))
        .map_err(|error| cannot(&error))?;
    let mut reader = decryptor
        .decrypt(
            identities
                .iter()
                .map(|identity| identity.as_ref() as &dyn age::Identity),
        )
        .map_err(|error| cannot(&error))?;
    let mut plaintext = Vec::new();
    reader
        .read_to_end(&mut plaintext)
        .map_err(|error| cannot(&error))?;
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn identity_file(dir: &Path, identity: &age::x25519::Identity) -> std::path::PathBuf {
        let path = dir.join("key.txt");
        std::fs::write(&path, format!("{}\n", identity.to_string().expose_secret())).unwrap();
        path
    }

    #[test]
    fn encrypts_to_recipients_and_only_their_identities_decrypt() {
        let temp = tempfile::tempdir().unwrap();
        let ours = age::x25519::Identity::generate();
        let theirs = age::x25519::Identity::generate();
        let sealed = encrypt(
            b"apiVersion: v1\nkind: List\n",
            &[ours.to_public().to_string()],
        )
        .unwrap();
        assert!(is_encrypted(&sealed));
        assert!(
            sealed.starts_with(ARMOR_BEGIN),
            "armored for text transport"
        );
        assert!(!String::from_utf8_lossy(&sealed).contains("kind: List"));

        let opened = decrypt(&sealed, Some(&identity_file(temp.path(), &ours)), "b.yaml").unwrap();
        assert_eq!(opened, b"apiVersion: v1\nkind: List\n");

        let other_dir = temp.path().join("other");
        std::fs::create_dir(&other_dir).unwrap();
        let error =
            decrypt(&sealed, Some(&identity_file(&other_dir, &theirs)), "b.yaml").unwrap_err();
        assert!(
            error.to_string().contains("cannot decrypt bundle b.yaml"),
            "{error}"
        );
        let error = decrypt(&sealed, None, "b.yaml").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("bundle b.yaml is encrypted with age; pass --identity FILE"),
            "{error}"
        );
    }

    #[test]
    fn a_malformed_recipient_is_a_usage_error() {
        let error = encrypt(b"x", &["age1notakey".to_string()]).unwrap_err();
        assert_eq!(error.exit(), crate::error::Exit::Usage);
        assert!(
            error
                .to_string()
                .contains("\"age1notakey\" is not an age recipient"),
            "{error}"
        );
        assert!(!is_encrypted(b"# kubectl-mp bundle\napiVersion: v1\n"));
    }
}
