//! The keys IAM signs and verifies tokens with, as the ManagementPlane spec
//! names them.
//!
//! Source: Tetrate MP HA guide, "Configure multiple IAM token validation
//! keys": `spec.tokenIssuer.jwt.signingKeysSecret` names the Secret
//! (default `iam-signing-key`; Tetrate's examples: `tsb-certs` with key
//! `tls.key`, or after a rotation `iam-signing-keys` holding `new.key` and
//! `old.key`), and `spec.tokenIssuer.jwt.issuers[].signingKey` names its
//! data keys: the first issuer signs, the others only verify. A standby
//! signing with another key rejects every token the active issued, so the
//! export carries that Secret and the failover's preflight compares it.

use k8s_openapi::api::core::v1::Secret;
use serde::Serialize;
use serde_json::Value;

use crate::secrets::redact::secret_values;

/// The spec field naming the signing keys' Secret.
pub const SECRET_FIELD: &str = "spec.tokenIssuer.jwt.signingKeysSecret";

/// The data key holding the key id (`kid`) of a signing Secret, the id
/// every token IAM signs carries in its header (Tetrate MP HA guide,
/// "Configure multiple IAM token validation keys": compare the `kid` of
/// `iam-signing-key` on both MPs).
pub const KID_KEY: &str = "kid";

/// One data key an issuer names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuerKey {
    /// The data key of the signing keys' Secret (`tls.key`, `new.key`).
    pub key: String,
    /// The spec field naming it: `spec.tokenIssuer.jwt.issuers[1].signingKey`.
    pub field: String,
}

/// Which Secret (and which of its data keys) IAM signs tokens with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeys {
    /// The Secret's name.
    pub secret: String,
    /// Whether the spec named it; false: the layout's default
    /// (`signingKeysSecret`), because the spec names none.
    pub named_by_spec: bool,
    /// The data keys the issuers name, in issuer order, each once; empty
    /// when the spec lists no issuer with a `signingKey`.
    pub keys: Vec<IssuerKey>,
}

impl SigningKeys {
    /// Reads `spec` (a ManagementPlane's `spec`, or a helm release's user
    /// values' `spec`); a missing spec, or one naming nothing, gives
    /// `default_secret` with no keys. Values of the wrong type count as
    /// not set: the ManagementPlane's schema refuses them anyway.
    pub fn from_spec(spec: Option<&Value>, default_secret: &str) -> SigningKeys {
        let jwt = spec
            .and_then(|spec| spec.get("tokenIssuer"))
            .and_then(|issuer| issuer.get("jwt"));
        let named = jwt
            .and_then(|jwt| jwt.get("signingKeysSecret"))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty());
        let mut keys: Vec<IssuerKey> = Vec::new();
        let issuers = jwt
            .and_then(|jwt| jwt.get("issuers"))
            .and_then(Value::as_array);
        for (index, issuer) in issuers.into_iter().flatten().enumerate() {
            let Some(key) = issuer
                .get("signingKey")
                .and_then(Value::as_str)
                .filter(|key| !key.is_empty())
            else {
                continue;
            };
            if keys.iter().all(|known| known.key != key) {
                keys.push(IssuerKey {
                    key: key.to_string(),
                    field: format!("spec.tokenIssuer.jwt.issuers[{index}].signingKey"),
                });
            }
        }
        SigningKeys {
            secret: named.unwrap_or(default_secret).to_string(),
            named_by_spec: named.is_some(),
            keys,
        }
    }

    /// The data key that signs (the first issuer's), if the spec names one.
    pub fn signing_key(&self) -> Option<&str> {
        self.keys.first().map(|issuer| issuer.key.as_str())
    }

    /// Where the Secret's name came from, for messages:
    /// `spec.tokenIssuer.jwt.signingKeysSecret`, or that it is the default.
    pub fn source(&self) -> &'static str {
        if self.named_by_spec {
            SECRET_FIELD
        } else {
            "the default: the spec names none in spec.tokenIssuer.jwt.signingKeysSecret"
        }
    }

    /// The issuers' data keys `secret` lacks, each with the field naming it.
    pub fn missing_keys<'a>(&'a self, secret: &Secret) -> Vec<&'a IssuerKey> {
        let values = secret_values(secret);
        self.keys
            .iter()
            .filter(|issuer| !values.contains_key(&issuer.key))
            .collect()
    }

    /// One line for people: `iam-signing-keys (from spec.tokenIssuer.jwt.signingKeysSecret;
    /// signs with new.key, verifies old.key)`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} (from {}", self.secret, self.source());
        if let Some((signing, verifying)) = self.keys.split_first() {
            text.push_str(&format!("; signs with {}", signing.key));
            if !verifying.is_empty() {
                let names: Vec<&str> = verifying.iter().map(|issuer| issuer.key.as_str()).collect();
                text.push_str(&format!(", verifies {}", names.join(", ")));
            }
        }
        text.push(')');
        text
    }
}

/// The key id a signing Secret holds in its `kid` data key, as UTF-8; None
/// when it has none (or it is not text). A kid is not secret: every token
/// carries it in its header (RFC 7515, section 4.1.4) and a JWKS publishes
/// it, so messages may show it, which lets people match it with a token's.
pub fn key_id(secret: &Secret) -> Option<String> {
    secret_values(secret)
        .remove(KID_KEY)
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// The key id (`kid`) in the header of a JWT (compact form, RFC 7519
/// section 3: three base64url parts joined by dots, the first a JSON header;
/// RFC 7515 section 4.1.4 for `kid`). `token` may carry surrounding
/// whitespace, as a Secret's value often does; None when it is not such a
/// token or its header names no kid. Only the header is decoded: the
/// payload and signature are never read.
pub fn jwt_key_id(token: &[u8]) -> Option<String> {
    use base64::Engine;
    let token = std::str::from_utf8(token).ok()?.trim();
    let mut parts = token.split('.');
    let (header, _payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim_end_matches('='))
        .ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header.get("kid")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(signing: &SigningKeys) -> Vec<(&str, &str)> {
        signing
            .keys
            .iter()
            .map(|issuer| (issuer.key.as_str(), issuer.field.as_str()))
            .collect()
    }

    #[test]
    fn a_spec_naming_nothing_gives_the_default_secret() {
        for spec in [
            None,
            Some(json!({})),
            Some(json!({"tokenIssuer": {"jwt": {"expiration": "3600s"}}})),
            Some(json!({"tokenIssuer": {"jwt": {"signingKeysSecret": ""}}})),
        ] {
            let signing = SigningKeys::from_spec(spec.as_ref(), "iam-signing-key");
            assert_eq!(signing.secret, "iam-signing-key", "{spec:?}");
            assert!(!signing.named_by_spec, "{spec:?}");
            assert!(signing.keys.is_empty(), "{spec:?}");
            assert_eq!(signing.signing_key(), None);
        }
        assert_eq!(
            SigningKeys::from_spec(None, "iam-signing-key").describe(),
            "iam-signing-key (from the default: the spec names none in spec.tokenIssuer.jwt.signingKeysSecret)"
        );
    }

    #[test]
    fn a_custom_secret_is_followed() {
        let spec = json!({"tokenIssuer": {"jwt": {"signingKeysSecret": "my-keys"}}});
        let signing = SigningKeys::from_spec(Some(&spec), "iam-signing-key");
        assert_eq!(signing.secret, "my-keys");
        assert!(signing.named_by_spec);
        assert_eq!(signing.source(), "spec.tokenIssuer.jwt.signingKeysSecret");
    }

    /// Tetrate's rotation example: the first issuer signs with the new
    /// key, the second only verifies tokens the old one signed.
    #[test]
    fn rotated_keys_name_every_issuers_key_first_one_signing() {
        let spec = json!({"tokenIssuer": {"jwt": {
            "signingKeysSecret": "iam-signing-keys",
            "issuers": [
                {"name": "https://new.tetrate.io", "algorithm": "RS256", "signingKey": "new.key"},
                {"name": "https://old.tetrate.io", "algorithm": "RS256", "signingKey": "old.key"},
                {"name": "https://again.tetrate.io", "algorithm": "RS256", "signingKey": "new.key"},
                {"name": "https://nokey.tetrate.io"},
            ],
        }}});
        let signing = SigningKeys::from_spec(Some(&spec), "iam-signing-key");
        assert_eq!(signing.secret, "iam-signing-keys");
        assert_eq!(
            keys(&signing),
            [
                ("new.key", "spec.tokenIssuer.jwt.issuers[0].signingKey"),
                ("old.key", "spec.tokenIssuer.jwt.issuers[1].signingKey"),
            ]
        );
        assert_eq!(signing.signing_key(), Some("new.key"));
        assert_eq!(
            signing.describe(),
            "iam-signing-keys (from spec.tokenIssuer.jwt.signingKeysSecret; signs with new.key, verifies old.key)"
        );

        let secret = Secret {
            data: Some(
                [(
                    "new.key".to_string(),
                    k8s_openapi::ByteString(b"pem".to_vec()),
                )]
                .into(),
            ),
            ..Secret::default()
        };
        let missing: Vec<&str> = signing
            .missing_keys(&secret)
            .iter()
            .map(|issuer| issuer.key.as_str())
            .collect();
        assert_eq!(missing, ["old.key"]);
    }

    /// Tetrate's other example: the front door's certificate key signs.
    #[test]
    fn tsb_certs_with_tls_key() {
        let spec = json!({"tokenIssuer": {"jwt": {
            "signingKeysSecret": "tsb-certs",
            "issuers": [{"name": "https://jwt.tetrate.io", "algorithm": "RS256", "signingKey": "tls.key"}],
        }}});
        let signing = SigningKeys::from_spec(Some(&spec), "iam-signing-key");
        assert_eq!(signing.secret, "tsb-certs");
        assert_eq!(
            keys(&signing),
            [("tls.key", "spec.tokenIssuer.jwt.issuers[0].signingKey")]
        );
    }

    #[test]
    fn a_jwt_names_its_key_id_in_its_header() {
        use base64::Engine;
        let encode =
            |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes());
        let token = format!(
            "{}.{}.c2lnbmF0dXJl\n",
            encode(r#"{"alg":"RS256","kid":"key-2026"}"#),
            encode(r#"{"sub":"edge"}"#)
        );
        assert_eq!(jwt_key_id(token.as_bytes()).as_deref(), Some("key-2026"));
        let without_kid = format!("{}.e30.c2ln", encode(r#"{"alg":"RS256"}"#));
        assert_eq!(jwt_key_id(without_kid.as_bytes()), None);
        for not_a_jwt in ["issued", "a.b", "a.b.c.d", "!!.e30.c2ln", ""] {
            assert_eq!(jwt_key_id(not_a_jwt.as_bytes()), None, "{not_a_jwt}");
        }
    }

    #[test]
    fn the_key_id_is_the_kid_data_key() {
        let mut secret = Secret::default();
        assert_eq!(key_id(&secret), None);
        secret.data = Some(
            [
                (
                    "kid".to_string(),
                    k8s_openapi::ByteString(b"key-2026".to_vec()),
                ),
                (
                    "private.key".to_string(),
                    k8s_openapi::ByteString(b"pem".to_vec()),
                ),
            ]
            .into(),
        );
        assert_eq!(key_id(&secret).as_deref(), Some("key-2026"));
    }
}
