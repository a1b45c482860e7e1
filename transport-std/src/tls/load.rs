//! Builds the rustls [`ClientConfig`] from the `ssl.*` settings: the roots to trust (a PEM
//! or PKCS12 truststore, inline PEM, or the platform's roots), the client certificate for
//! mTLS (a PEM or PKCS12 keystore, inline PEM, or librdkafka's certificate and key files),
//! hostname verification, TLS versions and cipher suites.
//!
//! Errors name the setting to change and never quote a password or key.

use std::path::Path;
use std::sync::Arc;

use p12_keystore::{KeyStore, Pkcs12Archive, Pkcs12ImportPolicy};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::Error;
use crate::security::{Secret, SslSettings, Store, StoreType};

fn config_error(msg: String) -> Error {
    Error::Config(msg)
}

/// The client configuration for `ssl`, or the error that names what to fix.
pub(crate) fn client_config(ssl: &SslSettings) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(provider(&ssl.cipher_suites)?);
    let mut versions = Vec::new();
    if ssl.versions.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if ssl.versions.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| config_error(format!("ssl.enabled.protocols and ssl.cipher.suites do not fit together: {e}")))?;
    let roots = Arc::new(roots(ssl)?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .map_err(|e| config_error(format!("the truststore cannot verify certificates: {e}")))?;
    let builder = if ssl.verify_hostname {
        builder.with_webpki_verifier(webpki)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyHostname(webpki)))
    };
    let config = match client_identity(ssl)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            config_error(format!("the keystore's private key does not fit its certificate, or is unsupported: {e}"))
        })?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The ring provider, with only the cipher suites `ssl.cipher.suites` names (if it names any).
fn provider(names: &[String]) -> Result<CryptoProvider, Error> {
    let mut provider = rustls::crypto::ring::default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let known: Vec<&str> = provider.cipher_suites.iter().filter_map(|s| s.suite().as_str()).collect();
    for name in names {
        // Java names the TLS 1.3 suites TLS_AES_128_GCM_SHA256; rustls TLS13_AES_128_GCM_SHA256.
        let ours = rustls_name(name);
        if !known.contains(&ours.as_str()) {
            return Err(config_error(format!(
                "ssl.cipher.suites: {name} is not supported; rustls offers {}",
                known.iter().map(|k| java_name(k)).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    provider.cipher_suites.retain(|s| s.suite().as_str().is_some_and(|n| names.iter().any(|w| rustls_name(w) == n)));
    Ok(provider)
}

fn rustls_name(java: &str) -> String {
    match java.strip_prefix("TLS_") {
        Some(rest) if rest.starts_with("AES_") || rest.starts_with("CHACHA20_") => {
            format!("TLS13_{rest}")
        }
        _ => java.to_owned(),
    }
}

fn java_name(rustls: &str) -> String {
    rustls.strip_prefix("TLS13_").map_or_else(|| rustls.to_owned(), |rest| format!("TLS_{rest}"))
}

/// Reads a file named by `setting`.
fn read(setting: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| config_error(format!("{setting}={}: cannot read it: {e}", path.display())))
}

/// The kind of store at `path`: the type set, or else told by its content (PEM text, the JKS
/// magic number, or PKCS12).
fn kind_of(store: &Store, data: &[u8]) -> StoreType {
    store.kind.unwrap_or_else(|| {
        if data.starts_with(&[0xfe, 0xed, 0xfe, 0xed]) {
            StoreType::Jks
        } else if data.windows(11).any(|w| w == b"-----BEGIN ") {
            StoreType::Pem
        } else {
            StoreType::Pkcs12
        }
    })
}

/// The error for a JKS store: the one `keytool` command that converts it.
fn jks(which: &str, path: &Path) -> Error {
    let src = path.display().to_string();
    let dest = src.strip_suffix(".jks").unwrap_or(&src).to_owned() + ".p12";
    config_error(format!(
        "ssl.{which}.location={src} is a JKS store, which kprod cannot read. Convert it once with \
         `keytool -importkeystore -srckeystore {src} -destkeystore {dest} -deststoretype PKCS12`, then set \
         ssl.{which}.type=PKCS12 and ssl.{which}.location={dest}"
    ))
}

fn pem_certs(setting: &str, data: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(format!("{setting}: invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!("{setting}: no certificate (-----BEGIN CERTIFICATE-----) found")));
    }
    Ok(certs)
}

fn p12_error(setting: &str, which: &str, e: p12_keystore::error::Error) -> Error {
    match e {
        p12_keystore::error::Error::MacError(_) => {
            config_error(format!("{setting}: wrong password (check ssl.{which}.password)"))
        }
        other => config_error(format!("{setting}: not a PKCS12 store kprod can read: {other}")),
    }
}

/// The roots to trust.
fn roots(ssl: &SslSettings) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    let mut add = |setting: &str, certs: Vec<CertificateDer<'static>>| -> Result<(), Error> {
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| config_error(format!("{setting}: a certificate cannot be a trust anchor: {e}")))?;
        }
        Ok(())
    };
    if let Some(pem) = &ssl.truststore_certificates {
        add("ssl.truststore.certificates", pem_certs("ssl.truststore.certificates", pem.as_bytes())?)?;
    }
    if let Some(path) = &ssl.truststore.location {
        let setting = format!("ssl.truststore.location={}", path.display());
        let data = read("ssl.truststore.location", path)?;
        let certs = match kind_of(&ssl.truststore, &data) {
            StoreType::Jks => return Err(jks("truststore", path)),
            StoreType::Pem => pem_certs(&setting, &data)?,
            StoreType::Pkcs12 => {
                // Every certificate in the store is trusted: keytool marks trusted entries with a
                // Java attribute that openssl-made stores lack.
                let password = ssl.truststore.password.as_ref().map_or("", Secret::expose);
                let store =
                    Pkcs12Archive::from_pkcs12(&data, password).map_err(|e| p12_error(&setting, "truststore", e))?;
                let certs: Vec<_> =
                    store.certs.iter().map(|bag| CertificateDer::from(bag.cert.as_der().to_vec())).collect();
                if certs.is_empty() {
                    return Err(config_error(format!("{setting}: the store holds no certificate")));
                }
                certs
            }
        };
        add(&setting, certs)?;
    }
    if ssl.truststore_certificates.is_none() && ssl.truststore.location.is_none() {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            log::debug!("kprod: loading the platform's root certificates: {e}");
        }
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(config_error(
                "no trusted root certificates found on this system: set ssl.truststore.location (or ssl.ca.location) \
                 to the CA's PEM file"
                    .into(),
            ));
        }
    }
    Ok(roots)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate chain and key, if any is set.
fn client_identity(ssl: &SslSettings) -> Result<Option<Identity>, Error> {
    if let Some(path) = &ssl.keystore.location {
        let setting = format!("ssl.keystore.location={}", path.display());
        let data = read("ssl.keystore.location", path)?;
        return match kind_of(&ssl.keystore, &data) {
            StoreType::Jks => Err(jks("keystore", path)),
            StoreType::Pem => {
                let chain = pem_certs(&setting, &data)?;
                // Java: ssl.key.password decrypts the key of a PEM keystore.
                let key = pem_key(&setting, &data, ssl.key_password.as_ref())?;
                Ok(Some((chain, key)))
            }
            StoreType::Pkcs12 => {
                let password = ssl.keystore.password.as_ref().map_or("", Secret::expose);
                let store = KeyStore::from_pkcs12(&data, password, Pkcs12ImportPolicy::Relaxed)
                    .map_err(|e| p12_error(&setting, "keystore", e))?;
                let (_, chain) = store
                    .private_key_chain()
                    .ok_or_else(|| config_error(format!("{setting}: the store holds no private key")))?;
                let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
                let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
                Ok(Some((certs, key)))
            }
        };
    }
    let chain = match (&ssl.keystore_certificate_chain, &ssl.certificate_location) {
        (Some(pem), _) => Some(pem_certs("ssl.keystore.certificate.chain", pem.as_bytes())?),
        (None, Some(path)) => Some(pem_certs("ssl.certificate.location", &read("ssl.certificate.location", path)?)?),
        (None, None) => None,
    };
    let key = match (&ssl.keystore_key, &ssl.key_location) {
        (Some(pem), _) => Some(pem_key("ssl.keystore.key", pem.expose().as_bytes(), ssl.key_password.as_ref())?),
        (None, Some(path)) => {
            let setting = format!("ssl.key.location={}", path.display());
            Some(pem_key(&setting, &read("ssl.key.location", path)?, ssl.key_password.as_ref())?)
        }
        (None, None) => None,
    };
    match (chain, key) {
        (Some(chain), Some(key)) => Ok(Some((chain, key))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(config_error(
            "a client certificate is set but no private key: set ssl.keystore.key (or ssl.key.location)".into(),
        )),
        (None, Some(_)) => Err(config_error(
            "a private key is set but no client certificate: set ssl.keystore.certificate.chain (or \
             ssl.certificate.location)"
                .into(),
        )),
    }
}

const ENCRYPTED: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &[u8] = b"-----END ENCRYPTED PRIVATE KEY-----";

/// The private key in PEM `data`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC); an encrypted PKCS#8 key
/// is decrypted with `ssl.key.password`.
fn pem_key(setting: &str, data: &[u8], password: Option<&Secret>) -> Result<PrivateKeyDer<'static>, Error> {
    if let Some(start) = find(data, ENCRYPTED) {
        let end = find(&data[start..], ENCRYPTED_END).map(|e| start + e + ENCRYPTED_END.len());
        let block =
            end.map(|end| &data[start..end]).ok_or_else(|| config_error(format!("{setting}: unterminated PEM key")))?;
        let password = password
            .ok_or_else(|| config_error(format!("{setting}: the private key is encrypted: set ssl.key.password")))?;
        let (_, der) = pkcs8::der::pem::decode_vec(block)
            .map_err(|e| config_error(format!("{setting}: invalid encrypted PEM key: {e}")))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| config_error(format!("{setting}: invalid encrypted PKCS#8 key: {e}")))?;
        let plain = info.decrypt(password.expose()).map_err(|_| {
            config_error(format!(
                "{setting}: cannot decrypt the private key: ssl.key.password is wrong, or the key uses an \
                 encryption other than PBES2 (PBKDF2 or scrypt with AES)"
            ))
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec())));
    }
    if find(data, b"Proc-Type: 4,ENCRYPTED").is_some() {
        return Err(config_error(format!(
            "{setting}: the private key is encrypted in OpenSSL's legacy format, which kprod cannot read; convert it \
             with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out KEY.p8` and keep ssl.key.password"
        )));
    }
    PrivateKeyDer::from_pem_slice(data).map_err(|e| config_error(format!("{setting}: no usable private key: {e}")))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is verified as usual (trusted,
/// in date, signatures), but the certificate need not name the host, as in the Java client.
#[derive(Debug)]
struct AnyHostname(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // webpki checks the name last, after the chain, validity and signatures.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
