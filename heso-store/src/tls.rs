//! TLS to the store, as libpq sets it up: `sslmode` (`disable`, `allow`, `prefer`,
//! `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of CA certificates, or
//! `system` for the platform's store), `sslcert` and `sslkey` (a client certificate), from
//! the connection string, else from `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`.
//! The `postgres` crate knows only disable/prefer/require and no file options, so these are
//! taken out of the string before it parses the rest, and the checks are made here with
//! rustls.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

/// The connection options this module reads (the rest go to the `postgres` crate).
const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// libpq tries without TLS first; here it is `prefer` (TLS when the server offers it).
    Allow,
    /// TLS when the server offers it, else without; the certificate is checked only when a
    /// root certificate file exists.
    Prefer,
    /// TLS or nothing; the certificate is checked only when a root certificate file exists.
    Require,
    /// TLS, the server's certificate chained to a trusted CA.
    VerifyCa,
    /// TLS, the certificate chained to a trusted CA and naming the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// A PEM file (named, or libpq's default `~/.postgresql/root.crt`).
    File(PathBuf),
    /// The platform's store (`sslrootcert=system`).
    System,
}

/// The TLS settings of one connection string.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    roots: Option<Roots>,
    /// True when `sslrootcert` was given (not libpq's default file).
    roots_named: bool,
    client_cert: Option<(PathBuf, PathBuf)>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sslmode={}", self.mode.name())?;
        match &self.roots {
            Some(Roots::File(path)) if self.roots_named => {
                write!(f, ", sslrootcert={}", path.display())?;
            }
            Some(Roots::File(path)) if path.exists() => {
                write!(f, ", CAs from {}", path.display())?;
            }
            Some(Roots::File(_)) => {}
            Some(Roots::System) => write!(f, ", sslrootcert=system")?,
            None => {}
        }
        if let Some((cert, _)) = &self.client_cert {
            write!(f, ", sslcert={}", cert.display())?;
        }
        Ok(())
    }
}

/// A connection string without its TLS options, and those options.
#[derive(Debug)]
pub(crate) struct Split {
    /// What the `postgres` crate parses.
    pub(crate) rest: String,
    pub(crate) tls: TlsSettings,
}

/// Where the environment and the home directory come from (tests give their own).
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
}

/// The process's environment.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").map(PathBuf::from)
    }
}

/// Takes the TLS options out of `url` (a `postgresql://` URL or `key=value` pairs) and
/// resolves them with the environment as libpq does. Errors name the option, never the
/// string (it may hold a password).
pub(crate) fn split(url: &str, env: &dyn Env) -> Result<Split, String> {
    let (rest, options) = if url.starts_with("postgresql://") || url.starts_with("postgres://") {
        split_url(url)?
    } else {
        split_pairs(url)?
    };
    let get = |key: &str, var: &str| -> Option<String> {
        options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| env.var(var))
    };
    let mode = get("sslmode", "PGSSLMODE")
        .map(|m| SslMode::parse(&m))
        .transpose()?;
    let rootcert = get("sslrootcert", "PGSSLROOTCERT");
    let roots_named = rootcert.is_some();
    let roots = match rootcert.as_deref() {
        Some("system") => Some(Roots::System),
        Some(path) => Some(Roots::File(PathBuf::from(path))),
        None => env
            .home()
            .map(|home| Roots::File(home.join(".postgresql").join("root.crt"))),
    };
    let mode = match (mode, &roots) {
        // libpq: sslrootcert=system defaults to verify-full and refuses weaker checks.
        (None, Some(Roots::System)) => SslMode::VerifyFull,
        (Some(m), Some(Roots::System)) if m != SslMode::VerifyFull && m != SslMode::Disable => {
            return Err(format!(
                "sslrootcert=system needs sslmode=verify-full (got sslmode={}): the platform's \
                 CAs vouch for names, not for a server",
                m.name()
            ));
        }
        (Some(m), _) => m,
        (None, _) => SslMode::Prefer,
    };
    let cert = get("sslcert", "PGSSLCERT");
    let key = get("sslkey", "PGSSLKEY");
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
        (None, None) => None,
        (Some(_), None) => return Err("sslcert is given without sslkey".to_owned()),
        (None, Some(_)) => return Err("sslkey is given without sslcert".to_owned()),
    };
    Ok(Split {
        rest,
        tls: TlsSettings {
            mode,
            roots,
            roots_named,
            client_cert,
        },
    })
}

/// A URL's query options: the TLS ones taken out (percent-decoded), the others kept as
/// they were.
fn split_url(url: &str) -> Result<(String, Vec<(String, String)>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        let key = percent_decode(key)?;
        if TLS_KEYS.contains(&key.as_str()) {
            taken.push((key, percent_decode(value)?));
        } else {
            kept.push(part);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, taken))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % in the URL's options is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URL's options are not UTF-8".to_owned())
}

/// `key=value` pairs (values quoted with `'…'` or bare, `\` escaping): the TLS ones taken
/// out, the others written back quoted.
fn split_pairs(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let mut chars = text.chars().peekable();
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("the option {key:?} has no `=` and value"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(format!("the value of {key:?} has no closing quote")),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("the value of {key:?} has no closing quote")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        value.push(next);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if TLS_KEYS.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{key}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), taken))
}

/// The rustls configuration for `settings`, or `None` for `sslmode=disable`.
pub(crate) fn client_config(settings: &TlsSettings) -> Result<Option<ClientConfig>, String> {
    if settings.mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = load_roots(settings)?;
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(AnyCertificate {
            provider: Arc::clone(&provider),
        }),
        Some(roots) => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| format!("the trusted CA certificates: {e}"))?;
            if settings.mode == SslMode::VerifyFull {
                webpki
            } else {
                // verify-ca, and require/prefer with a root file (libpq checks the chain
                // then, not the name).
                Arc::new(ChainOnly { inner: webpki })
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = read_certs(cert, "sslcert")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                format!(
                    "sslkey {}: not a readable PEM private key ({e})",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("sslcert/sslkey {}: {e}", cert.display()))?
        }
    };
    Ok(Some(config))
}

/// The trusted CAs, or `None` when the server's certificate is not to be checked (libpq:
/// `prefer`/`require` without a root certificate file).
fn load_roots(settings: &TlsSettings) -> Result<Option<RootCertStore>, String> {
    match &settings.roots {
        Some(Roots::System) => {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_owned(), ToString::to_string);
                return Err(format!(
                    "sslrootcert=system: no CA certificates in the platform's store ({why})"
                ));
            }
            Ok(Some(roots))
        }
        Some(Roots::File(path)) => {
            if !path.exists() {
                if settings.mode.verifies() {
                    return Err(format!(
                        "sslmode={} needs trusted CA certificates, but the root certificate \
                         file {} does not exist: name one with sslrootcert=FILE (or \
                         PGSSLROOTCERT), use the platform's with sslrootcert=system, or use \
                         sslmode=require to encrypt without checking the server",
                        settings.mode.name(),
                        path.display()
                    ));
                }
                return Ok(None);
            }
            let certs = read_certs(path, "sslrootcert")?;
            let mut roots = RootCertStore::empty();
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    format!(
                        "sslrootcert {}: a certificate is unusable ({e})",
                        path.display()
                    )
                })?;
            }
            Ok(Some(roots))
        }
        None if settings.mode.verifies() => Err(format!(
            "sslmode={} needs trusted CA certificates: name them with sslrootcert=FILE (or \
             PGSSLROOTCERT), or use sslrootcert=system",
            settings.mode.name()
        )),
        None => Ok(None),
    }
}

fn read_certs(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{option} {}: not a readable PEM file ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{option} {}: no certificate in it (a PEM file of `-----BEGIN CERTIFICATE-----` blocks)",
            path.display()
        ));
    }
    Ok(certs)
}

/// `verify-ca`: the chain to a trusted CA, whatever name the certificate carries.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name after it: a name error means the
        // chain held.
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
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
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `require`/`prefer` without a root file: encrypted, the server's certificate unchecked
/// (as libpq), but the handshake still signed by the key in it.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "test code: a failure should stop it loudly"
)]
mod tests {
    use super::*;

    struct FakeEnv(Vec<(&'static str, &'static str)>, Option<PathBuf>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
        fn home(&self) -> Option<PathBuf> {
            self.1.clone()
        }
    }

    fn no_env() -> FakeEnv {
        FakeEnv(Vec::new(), None)
    }

    #[test]
    fn url_options_are_taken_out_and_the_rest_kept() {
        let s = split(
            "postgresql://u@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca%20file.pem&connect_timeout=3",
            &no_env(),
        )
        .unwrap();
        assert_eq!(
            s.rest,
            "postgresql://u@h:5/db?application_name=x&connect_timeout=3"
        );
        assert_eq!(s.tls.mode, SslMode::VerifyFull);
        assert_eq!(s.tls.roots, Some(Roots::File("/tmp/ca file.pem".into())));
        let s = split("postgres://u@h/db?sslmode=require", &no_env()).unwrap();
        assert_eq!(s.rest, "postgres://u@h/db");
        assert_eq!(s.tls.mode, SslMode::Require);
        assert_eq!(s.tls.roots, None);
    }

    #[test]
    fn key_value_options_are_taken_out_and_the_rest_requoted() {
        let s = split(
            "host=h user = u password='a b\\'c' sslmode = verify-ca sslrootcert='/x y/ca.pem'",
            &no_env(),
        )
        .unwrap();
        assert_eq!(s.rest, "host='h' user='u' password='a b\\'c'");
        assert_eq!(s.tls.mode, SslMode::VerifyCa);
        assert_eq!(s.tls.roots, Some(Roots::File("/x y/ca.pem".into())));
        let err = split("host=h password='secret", &no_env()).unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        assert!(split("host", &no_env()).is_err());
    }

    #[test]
    fn the_environment_fills_in_and_the_string_wins() {
        let env = FakeEnv(
            vec![("PGSSLMODE", "require"), ("PGSSLROOTCERT", "/env/ca.pem")],
            Some("/home/me".into()),
        );
        let s = split("postgresql://u@h/db", &env).unwrap();
        assert_eq!(s.tls.mode, SslMode::Require);
        assert_eq!(s.tls.roots, Some(Roots::File("/env/ca.pem".into())));
        let s = split("postgresql://u@h/db?sslmode=disable", &env).unwrap();
        assert_eq!(s.tls.mode, SslMode::Disable);
        // libpq's default root file, and prefer by default.
        let s = split("host=h", &FakeEnv(Vec::new(), Some("/home/me".into()))).unwrap();
        assert_eq!(s.tls.mode, SslMode::Prefer);
        assert_eq!(
            s.tls.roots,
            Some(Roots::File("/home/me/.postgresql/root.crt".into()))
        );
        assert!(!s.tls.roots_named);
    }

    #[test]
    fn bad_modes_and_weak_system_roots_are_refused() {
        let err = split("postgresql://u@h/db?sslmode=verify", &no_env()).unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
        let s = split("postgresql://u@h/db?sslrootcert=system", &no_env()).unwrap();
        assert_eq!(s.tls.mode, SslMode::VerifyFull);
        let err = split(
            "postgresql://u@h/db?sslrootcert=system&sslmode=require",
            &no_env(),
        )
        .unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
        assert!(split("postgresql://u@h/db?sslcert=/c.pem", &no_env()).is_err());
    }

    #[test]
    fn verify_modes_without_a_root_file_are_refused_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("root.crt");
        let url = format!(
            "postgresql://u@h/db?sslmode=verify-full&sslrootcert={}",
            missing.display()
        );
        let s = split(&url, &no_env()).unwrap();
        let err = client_config(&s.tls).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
        // require without the file: encrypted, unchecked, as libpq.
        let s = split(
            &format!(
                "postgresql://u@h/db?sslmode=require&sslrootcert={}",
                missing.display()
            ),
            &no_env(),
        )
        .unwrap();
        assert!(client_config(&s.tls).unwrap().is_some());
        std::fs::write(&missing, "not pem").unwrap();
        let err = client_config(&split(&url, &no_env()).unwrap().tls).unwrap_err();
        assert!(err.contains("no certificate"), "{err}");
        let s = split("postgresql://u@h/db?sslmode=disable", &no_env()).unwrap();
        assert!(client_config(&s.tls).unwrap().is_none());
    }
}
