//! TLS that real clients accept: a test CA plus a separate leaf (uv refuses a
//! self-signed certificate that is its own CA), generated once into the data
//! directory; or a user-supplied certificate and key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub struct TlsMaterial {
    pub config: Arc<ServerConfig>,
    /// The CA clients must trust, when we generated the certificate.
    pub ca_file: Option<PathBuf>,
    /// That CA after the system's roots: what `mock-pypi env` points clients at, so a
    /// shell set up for the mock still reaches every other HTTPS host.
    pub ca_bundle: Option<PathBuf>,
}

/// rustls needs one process-wide crypto provider. aws-lc-rs is the one library behind
/// TLS, certificate generation and JWT signatures (its RSA is ~10x faster than pure Rust).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

const CA_NAME: &str = "mock-pypi test CA (TEST ONLY, never trust outside tests)";

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "mock-pypi");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    Ok(params)
}

/// Names every generated leaf covers, plus the caller's.
pub fn leaf_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for n in extra {
        let n = n
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !n.is_empty() && !names.contains(&n) {
            names.push(n);
        }
    }
    names
}

/// Load the user's certificate, or the generated one (regenerating the leaf when
/// the wanted names changed; the CA is kept so clients stay configured).
pub async fn load(
    data_dir: &Path,
    user: Option<(&Path, &Path)>,
    names: &[String],
) -> anyhow::Result<TlsMaterial> {
    let (chain_pem, key_pem, ca_file) = match user {
        Some((cert, key)) => (
            tokio::fs::read(cert)
                .await
                .with_context(|| format!("reading {}", cert.display()))?,
            tokio::fs::read(key)
                .await
                .with_context(|| format!("reading {}", key.display()))?,
            None,
        ),
        None => {
            let dir = data_dir.join("tls");
            let (chain, key) = generated(&dir, names).await?;
            (chain, key, Some(std::path::absolute(dir.join("ca.pem"))?))
        }
    };
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut chain_pem.as_slice())
        .collect::<Result<_, _>>()
        .context("reading the certificate chain")?;
    anyhow::ensure!(
        !chain.is_empty(),
        "the certificate file holds no certificate"
    );
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .context("reading the private key")?
        .context("the key file holds no private key")?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("building the TLS configuration")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let ca_bundle = match &ca_file {
        Some(ca) => Some(write_bundle(ca).await?),
        None => None,
    };
    Ok(TlsMaterial {
        config: Arc::new(config),
        ca_file,
        ca_bundle,
    })
}

/// `ca-bundle.pem` next to the test CA: the system's roots (as the platform verifier
/// finds them; none on a bare machine) followed by the test CA. Rewritten at every start,
/// so it follows the system's roots.
pub(crate) async fn write_bundle(ca_file: &Path) -> anyhow::Result<PathBuf> {
    let ca_pem = tokio::fs::read_to_string(ca_file).await?;
    let bundle_path = ca_file.with_file_name("ca-bundle.pem");
    let system = tokio::task::spawn_blocking(|| {
        let found = rustls_native_certs::load_native_certs();
        found
            .certs
            .iter()
            .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.as_ref().to_vec())))
            .collect::<String>()
    })
    .await?;
    let bundle = format!("{system}{ca_pem}");
    let tmp = bundle_path.with_extension("tmp");
    tokio::fs::write(&tmp, bundle).await?;
    tokio::fs::rename(&tmp, &bundle_path).await?;
    Ok(bundle_path)
}

async fn generated(dir: &Path, names: &[String]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    tokio::fs::create_dir_all(dir).await?;
    let (ca_path, ca_key_path) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (leaf_path, leaf_key_path, names_path) = (
        dir.join("server.pem"),
        dir.join("server-key.pem"),
        dir.join("server.names"),
    );
    let wanted = names.join("\n");
    let ca_key = match tokio::fs::read_to_string(&ca_key_path).await {
        Ok(pem) if tokio::fs::try_exists(&ca_path).await.unwrap_or(false) => {
            KeyPair::from_pem(&pem).context("reading the test CA key")?
        }
        _ => {
            let key = KeyPair::generate()?;
            let ca = ca_params()?.self_signed(&key)?;
            crate::util::write_private(&ca_key_path, key.serialize_pem().as_bytes()).await?;
            tokio::fs::write(&ca_path, ca.pem()).await?;
            // A new CA invalidates any old leaf.
            let _ = tokio::fs::remove_file(&names_path).await;
            key
        }
    };
    let current = tokio::fs::read_to_string(&names_path)
        .await
        .unwrap_or_default();
    if current != wanted || !tokio::fs::try_exists(&leaf_path).await.unwrap_or(false) {
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "mock-pypi test server");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(825);
        let leaf_key = KeyPair::generate()?;
        // Re-deriving the CA's parameters (same name, same key) signs for the same CA.
        let ca_params = ca_params()?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let leaf = params.signed_by(&leaf_key, &issuer)?;
        let ca_pem = tokio::fs::read_to_string(&ca_path).await?;
        tokio::fs::write(&leaf_path, format!("{}{}", leaf.pem(), ca_pem)).await?;
        crate::util::write_private(&leaf_key_path, leaf_key.serialize_pem().as_bytes()).await?;
        tokio::fs::write(&names_path, &wanted).await?;
    }
    Ok((
        tokio::fs::read(&leaf_path).await?,
        tokio::fs::read(&leaf_key_path).await?,
    ))
}
