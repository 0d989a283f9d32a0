//! TLS to the server with rustls, following libpq's `sslmode` semantics: `prefer`/`allow` and
//! `require` encrypt without authenticating the server (a certificate is accepted as is, but
//! the handshake signatures are still checked), `verify-ca` checks the chain against the root
//! certificates, `verify-full` also the host name. Roots come from `sslrootcert` (a PEM file)
//! or the system store.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::PostgresTransportError;
use crate::options::{PostgresOptions, RootCerts, SslMode};

/// The TLS connector for these options (unused by tokio-postgres when `sslmode=disable`).
pub fn connector(o: &PostgresOptions) -> Result<MakeRustlsConnect, PostgresTransportError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PostgresTransportError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match o.ssl_mode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
            Arc::new(Lenient {
                provider,
                chain: None,
            })
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(roots(&o.root_certs)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| PostgresTransportError::Tls(e.to_string()))?;
            if o.ssl_mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(Lenient {
                    provider,
                    chain: Some(webpki),
                })
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn roots(source: &RootCerts) -> Result<RootCertStore, PostgresTransportError> {
    let mut store = RootCertStore::empty();
    match source {
        RootCerts::File(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| {
                    PostgresTransportError::Tls(format!(
                        "sslrootcert {}: cannot read it: {e}",
                        path.display()
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    PostgresTransportError::Tls(format!(
                        "sslrootcert {}: not a PEM certificate file: {e}",
                        path.display()
                    ))
                })?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(PostgresTransportError::Tls(format!(
                    "sslrootcert {}: no usable certificate in it",
                    path.display()
                )));
            }
        }
        RootCerts::System => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!(error = %e, "reading the system's root certificates");
            }
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(PostgresTransportError::Tls(
                    "no root certificate found in the system store; give sslrootcert=/path/to/root.crt"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

/// libpq's `require` (no `chain`: encrypted, server not authenticated) and `verify-ca` (the
/// chain must lead to a trusted root; the name is not checked). `verify-full` uses rustls's
/// verifier as it is. The handshake signatures are checked in every mode, with the provider's
/// algorithms, as rustls's own verifier does.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    /// `verify-ca`: the chain verifier whose host name check is waived.
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(Error::InvalidCertificate(
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
    ) -> Result<HandshakeSignatureValid, Error> {
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
    ) -> Result<HandshakeSignatureValid, Error> {
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
