//! What every request handler can reach: the settings, the store, the key cache, the
//! embedded fake issuer and the page cache. Built once by `startup`; depends on no
//! handler.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Settings;
use crate::index::cache::PageCache;
use crate::issuer::Issuer;
use crate::oidc::exchange::{Exchanger, Policy};
use crate::oidc::jwks::JwksCache;
use crate::oidc::trust::TrustCache;
use crate::store::{BlobStore, Store};
use crate::upload::{UploadPolicy, Uploader};

/// Which protocol a connection arrived on; handlers that build absolute URLs read it.
#[derive(Clone, Copy, Debug)]
pub struct Scheme(pub &'static str);

impl Scheme {
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

/// Which index an [`App`] serves: PyPI, or TestPyPI beside it (`serve --testpypi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexName {
    #[serde(rename = "pypi")]
    PyPI,
    #[serde(rename = "testpypi")]
    TestPyPI,
}

impl IndexName {
    /// What people call it.
    pub fn label(self) -> &'static str {
        match self {
            Self::PyPI => "PyPI",
            Self::TestPyPI => "TestPyPI",
        }
    }

    /// Where its paths start on the shared port ("" for PyPI).
    pub fn mount(self) -> &'static str {
        match self {
            Self::PyPI => "",
            Self::TestPyPI => TEST_MOUNT,
        }
    }
}

/// The path prefix of the TestPyPI index on the shared port.
pub const TEST_MOUNT: &str = "/test";

pub struct App {
    pub settings: Settings,
    /// Which index this is; its paths start at `index.mount()`.
    pub index: IndexName,
    /// The TestPyPI index served beside this one (PyPI's App only).
    pub testpypi: Option<AppState>,
    /// `http://host:port` clients use, with the index's mount (`…/test` for TestPyPI).
    pub public_url: String,
    pub admin_token: String,
    pub store: Store,
    pub blobs: BlobStore,
    pub jwks: JwksCache,
    /// Trusted issuers with their publishers, parsed, as the exchange reads them.
    pub trust: TrustCache,
    /// The exchange's rules from the settings.
    pub policy: Policy,
    pub issuer: Option<Arc<Issuer>>,
    pub ca_file: Option<PathBuf>,
    pub pages: PageCache,
    /// What attestations are verified against: the embedded fake Sigstore's root and
    /// any configured ones.
    pub sigstore_roots: Arc<crate::sigstore::root::Roots>,
    /// Armed faults (the failure kit), with the files they keep off the simple pages.
    pub faults: crate::faults::Faults,
    /// The workshop room, when the server runs one (`mock-pypi workshop`).
    pub workshop: Option<Arc<crate::workshop::Room>>,
}

impl App {
    /// The token exchange, over this server's store and caches.
    pub fn exchanger(&self) -> Exchanger<'_> {
        Exchanger {
            store: &self.store,
            jwks: &self.jwks,
            trust: &self.trust,
            policy: &self.policy,
            warehouse_exact_errors: self.settings.warehouse_exact_errors,
        }
    }

    /// The upload, over this server's store, blobs and Sigstore roots.
    pub fn uploader(&self) -> Uploader<'_> {
        Uploader {
            store: &self.store,
            blobs: &self.blobs,
            roots: &self.sigstore_roots,
            policy: UploadPolicy {
                max_release_age: self.settings.max_release_age,
                max_upload_bytes: self.settings.max_upload_bytes,
            },
        }
    }

    /// The HTTPS form of the public URL (same host and port: one listener serves both).
    pub fn https_url(&self) -> String {
        self.public_url.replacen("http://", "https://", 1)
    }
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
