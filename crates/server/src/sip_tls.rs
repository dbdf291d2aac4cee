//! TLS settings for SIP (decision 0028): the listener's certificate, key and client
//! certificate policy from `[sip] tls_listen`, `tls_cert`, `tls_key`, `tls_client_ca`, and
//! each `transport = "tls"` trunk's expected server name and trust roots. rustls with the
//! ring provider, as the dialplan HTTP client (decision 0021).
//!
//! Client certificates: the listener asks for one but never requires it (phones have
//! none; they prove themselves by digest). With `tls_client_ca` a presented certificate
//! must chain to it; without, any certificate whose key signed the handshake is accepted
//! at the TLS layer. Either way a certificate only makes a connection a trunk's when its
//! SHA-256 equals that trunk's `tls_client_cert_fingerprint` (see `trunk_trust`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use switchboard_sip::Transport;
use switchboard_sip_message::{Host, NameAddr, SipUri, Uri};
use switchboard_transport::{SipTransport, TlsListen, TlsPeer};

use crate::config::SipConfig;
use crate::trunk_config::TrunkSpec;

fn provider() -> Arc<CryptoProvider> {
    // ring, not aws-lc-rs: no C build step (decisions 0021, 0028).
    #[allow(deprecated)]
    let p = rustls::crypto::ring::default_provider();
    Arc::new(p)
}

/// Checks the TLS keys at load: a listener needs a certificate and a key; a pinned
/// trunk certificate needs a listener to arrive on.
pub(crate) fn validate(sip: &SipConfig, trunks: &[TrunkSpec]) -> anyhow::Result<()> {
    if sip.tls_listen.is_some() && (sip.tls_cert.is_none() || sip.tls_key.is_none()) {
        bail!("sip.tls_listen needs sip.tls_cert and sip.tls_key (PEM files)");
    }
    if sip.tls_listen.is_none()
        && (sip.tls_cert.is_some() || sip.tls_key.is_some() || sip.tls_client_ca.is_some())
    {
        bail!("sip.tls_cert, tls_key and tls_client_ca need sip.tls_listen");
    }
    if let Some(t) = trunks.iter().find(|t| t.tls_client_cert_sha256.is_some()) {
        if sip.tls_listen.is_none() {
            bail!(
                "trunk '{}': tls_client_cert_fingerprint needs sip.tls_listen (the carrier connects to it)",
                t.name
            );
        }
    }
    Ok(())
}

/// A SHA-256 fingerprint as written (`AB:CD:...`, any case, colons optional) in the form
/// the transport reports: 64 lowercase hex digits.
pub(crate) fn normalise_fingerprint(s: &str) -> anyhow::Result<String> {
    let hex: String = s
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("tls_client_cert_fingerprint '{s}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
    }
    Ok(hex)
}

fn certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let mut out = Vec::new();
    for c in
        CertificateDer::pem_file_iter(path).with_context(|| format!("{what} {}", path.display()))?
    {
        out.push(c.with_context(|| format!("{what} {}: bad PEM", path.display()))?);
    }
    if out.is_empty() {
        bail!("{what} {}: no CERTIFICATE in the file", path.display());
    }
    Ok(out)
}

fn roots(path: &Path, what: &str) -> anyhow::Result<rustls::RootCertStore> {
    let mut r = rustls::RootCertStore::empty();
    for c in certs(path, what)? {
        r.add(c)
            .with_context(|| format!("{what} {}", path.display()))?;
    }
    Ok(r)
}

/// The listener's settings, or `None` without `sip.tls_listen`.
pub(crate) fn listener(sip: &SipConfig) -> anyhow::Result<Option<TlsListen>> {
    let Some(addr) = sip.tls_listen else {
        return Ok(None);
    };
    let (Some(cert), Some(key)) = (&sip.tls_cert, &sip.tls_key) else {
        bail!("sip.tls_listen needs sip.tls_cert and sip.tls_key");
    };
    let chain = certs(cert, "sip.tls_cert")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("sip.tls_key {}: no usable PEM private key", key.display()))?;
    let provider = provider();
    let verifier: Arc<dyn ClientCertVerifier> = match &sip.tls_client_ca {
        Some(ca) => WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots(ca, "sip.tls_client_ca")?),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build()
        .context("sip.tls_client_ca")?,
        None => Arc::new(PinnedByTrunk {
            provider: provider.clone(),
        }),
    };
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("sip.tls_cert / sip.tls_key do not make a usable certificate")?;
    Ok(Some(TlsListen {
        addrs: vec![addr],
        server: Arc::new(server),
    }))
}

/// Tells the transport the name and roots of every TLS trunk, so calls and
/// registrations to it open a verified connection.
pub(crate) fn register_trunks(
    transport: &SipTransport,
    trunks: &[TrunkSpec],
) -> anyhow::Result<()> {
    for t in trunks.iter().filter(|t| t.transport == Transport::Tls) {
        let at = || format!("trunk '{}'", t.name);
        let roots = match &t.tls_ca_file {
            Some(p) => roots(p, "tls_ca_file").with_context(at)?,
            None => {
                let mut r = rustls::RootCertStore::empty();
                r.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                r
            }
        };
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server_name = ServerName::try_from(t.tls_server_name.clone()).map_err(|_| {
            anyhow::anyhow!(
                "{}: tls_server_name '{}' is not a DNS name or IP address",
                at(),
                t.tls_server_name
            )
        })?;
        transport.set_tls_peer(
            t.address,
            TlsPeer {
                server_name,
                client: Arc::new(client),
            },
        );
    }
    Ok(())
}

/// Our Contact on TLS legs: `sip:switchboard@ip:tls-port;transport=tls`.
pub(crate) fn tls_contact(host: Host, port: u16) -> NameAddr {
    let mut uri = SipUri::new(host);
    uri.user = Some("switchboard".into());
    uri.port = Some(port);
    uri.params.push(switchboard_sip_message::Param::new(
        "transport",
        Some("tls".into()),
    ));
    NameAddr::new(Uri::Sip(uri))
}

/// Asks for a client certificate, never requires one, and accepts any certificate whose
/// key signs the handshake: who it belongs to is decided by the trunks' pins, not here.
#[derive(Debug)]
struct PinnedByTrunk {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedByTrunk {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_normalise_and_bad_ones_are_refused() {
        let f = "AB:".repeat(31) + "AB";
        assert_eq!(normalise_fingerprint(&f).expect("ok"), "ab".repeat(32));
        assert!(normalise_fingerprint("ab:cd").is_err());
        assert!(normalise_fingerprint(&"zz".repeat(32)).is_err());
    }
}
