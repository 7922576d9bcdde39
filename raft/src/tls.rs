//! The cluster PKI: a CA created at bootstrap, node certificates it signs, and the rustls
//! configurations for mutually authenticated QUIC between members.
//!
//! Every node certificate carries the DNS name [`PEER_SERVER_NAME`]: peers authenticate
//! cluster membership (a certificate signed by the cluster CA), not host names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, CertificateSigningRequestDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::NodeId;

/// The name every node certificate is issued for and every peer connection verifies.
pub const PEER_SERVER_NAME: &str = "micro-peer";
/// ALPN protocol of peer connections.
pub const ALPN: &[u8] = b"micro-peer/1";

/// Why the PKI could not be created, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Certificate generation or signing failed.
    #[error("certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A rustls configuration was refused.
    #[error("tls configuration: {0}")]
    Config(#[from] rustls::Error),
    /// A client verifier could not be built.
    #[error("client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A file of the data dir could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM file held no usable certificate or key.
    #[error("{0}: no certificate or key found")]
    EmptyPem(PathBuf),
}

/// The cluster CA: its certificate and signing key. Every member holds it so any member can
/// admit joiners.
pub struct ClusterCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The CA certificate exactly as distributed (the trust anchor everyone pins).
    pem: String,
}

/// This node's certificate chain and key.
pub struct NodeIdentity {
    /// PEM of the node certificate.
    pub cert_pem: String,
    /// PEM of the node's private key.
    pub key_pem: String,
}

impl ClusterCa {
    /// Creates a new CA (at bootstrap).
    pub fn generate() -> Result<Self, TlsError> {
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "micro cluster CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let pem = cert.pem();
        Ok(ClusterCa { cert, key, pem })
    }

    /// Rebuilds the CA from its distributed certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem)?;
        let cert = CertificateParams::from_ca_cert_pem(cert_pem)?.self_signed(&key)?;
        Ok(ClusterCa {
            cert,
            key,
            pem: cert_pem.to_owned(),
        })
    }

    /// The CA certificate PEM.
    pub fn cert_pem(&self) -> &str {
        &self.pem
    }

    /// The CA key PEM (handed to members only, over an authenticated channel).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The CA certificate DER (what join tokens pin).
    pub fn cert_der(&self) -> Result<CertificateDer<'static>, TlsError> {
        first_cert(&self.pem, Path::new("<ca>"))
    }

    fn node_params(id: NodeId) -> Result<CertificateParams, TlsError> {
        let mut params = CertificateParams::new(vec![PEER_SERVER_NAME.to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("micro node {id:016x}"));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        Ok(params)
    }

    /// Issues a certificate (and key) for this node.
    pub fn issue(&self, id: NodeId) -> Result<NodeIdentity, TlsError> {
        let key = KeyPair::generate()?;
        let cert = Self::node_params(id)?.signed_by(&key, &self.cert, &self.key)?;
        Ok(NodeIdentity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Signs a joiner's certificate request. Names and usages come from us, not the request.
    pub fn sign_request(&self, id: NodeId, csr_der: &[u8]) -> Result<String, TlsError> {
        let mut csr = CertificateSigningRequestParams::from_der(
            &CertificateSigningRequestDer::from(csr_der),
        )?;
        csr.params = Self::node_params(id)?;
        Ok(csr.signed_by(&self.cert, &self.key)?.pem())
    }
}

/// A key pair and certificate request made by a joining node (the key never leaves it).
pub fn certificate_request(id: NodeId) -> Result<(Vec<u8>, String), TlsError> {
    let key = KeyPair::generate()?;
    let csr = ClusterCa::node_params(id)?.serialize_request(&key)?;
    Ok((csr.der().to_vec(), key.serialize_pem()))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn first_cert(pem: &str, path: &Path) -> Result<CertificateDer<'static>, TlsError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| TlsError::EmptyPem(path.to_owned()))
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::EmptyPem(PathBuf::from("<key>")))
}

fn roots(ca_pem: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.add(first_cert(ca_pem, Path::new("<ca>"))?)?;
    Ok(roots)
}

/// Server side of peer QUIC: presents the node certificate; a client certificate signed by the
/// cluster CA is verified when presented and required by the server for everything but joins.
pub fn server_config(ca_pem: &str, id: &NodeIdentity) -> Result<rustls::ServerConfig, TlsError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
            .allow_unauthenticated()
            .build()?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![first_cert(&id.cert_pem, Path::new("<node cert>"))?],
            private_key(&id.key_pem)?,
        )?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// Client side for members: verifies the server against the cluster CA and presents our cert.
pub fn member_client_config(
    ca_pem: &str,
    id: &NodeIdentity,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(
            vec![first_cert(&id.cert_pem, Path::new("<node cert>"))?],
            private_key(&id.key_pem)?,
        )?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// Client side for a joiner that already fetched and pinned the CA: verifies the server, no
/// client certificate.
pub fn joiner_client_config(ca_pem: &str) -> Result<rustls::ClientConfig, TlsError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// Client side for CA discovery only: accepts any server certificate, because the CA it then
/// fetches is checked against the hash pinned in the join token before anything secret is sent.
pub fn discovery_client_config() -> Result<rustls::ClientConfig, TlsError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    Ok(cfg)
}

/// Accepts any server certificate but still checks handshake signatures.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Writes a file readable only by its owner (keys, tokens).
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let file_err = |source| TlsError::File {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(&tmp).map_err(file_err)?;
    f.write_all(contents).map_err(file_err)?;
    f.sync_all().map_err(file_err)?;
    std::fs::rename(&tmp, path).map_err(file_err)
}

/// Reads a text file of the data dir.
pub fn read_text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|source| TlsError::File {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_reloaded_from_pem_signs_certificates_the_original_trusts() {
        let ca = ClusterCa::generate().unwrap();
        let again = ClusterCa::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        let (csr, key_pem) = certificate_request(7).unwrap();
        let cert_pem = again.sign_request(7, &csr).unwrap();
        let id = NodeIdentity { cert_pem, key_pem };
        // Both configurations build with the original CA as the trust anchor.
        server_config(ca.cert_pem(), &id).unwrap();
        member_client_config(ca.cert_pem(), &id).unwrap();
        let leaf = first_cert(&id.cert_pem, Path::new("x")).unwrap();
        let anchor = first_cert(ca.cert_pem(), Path::new("x")).unwrap();
        let anchors = [webpki_anchor(&anchor)];
        let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &[],
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .unwrap();
    }

    fn webpki_anchor<'a>(der: &'a CertificateDer<'a>) -> rustls::pki_types::TrustAnchor<'a> {
        webpki::anchor_from_trusted_cert(der).unwrap()
    }
}
