//! Operations the control API, the dashboard and startup share: registering
//! publishers and issuers (with their validation), applying the configured fixtures,
//! reading one exchange with what its token did, and resetting the index.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::faults::engine::Armed;
use crate::faults::scenarios::Scenario;
use crate::oidc::publisher::{Publisher, PublisherConfig};
use crate::packaging;
use crate::provider::Provider;
use crate::state::{App, IndexName};
use crate::store::{BurnRow, ExchangeRow, FileRow, StoreError, TokenRow, TrustedIssuerRow};

/// Why an operation was refused or failed; the control API maps it to its answers,
/// startup to its error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input is wrong, and this says how.
    #[error("{0}")]
    Invalid(String),
    /// A definition refused because of one field.
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// A scenario and the faults arming it armed.
#[derive(Debug, Serialize)]
pub struct ArmedScenario {
    pub scenario: Scenario,
    pub armed: Vec<Armed>,
}

/// The issuer a GitLab publisher is bound to when it names none: the embedded
/// issuer's, else the first trusted GitLab issuer.
async fn default_gitlab_issuer(app: &App) -> Result<Option<String>> {
    if let Some(issuer) = &app.issuer {
        return Ok(Some(issuer.issuer_url(Provider::GitLab)));
    }
    Ok(app
        .store
        .list_issuers()
        .await?
        .into_iter()
        .find(|i| i.provider == Provider::GitLab.as_str())
        .map(|i| i.url))
}

/// Validate a publisher object and store it. A normal publisher's project is created
/// (empty) if it does not exist yet; a pending one requires that it does not.
pub async fn add_publisher(app: &App, body: &Map<String, Value>) -> Result<Publisher> {
    let provider = body.get("provider").and_then(Value::as_str).unwrap_or("");
    let project = body
        .get("project")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    if !packaging::is_valid_name(project) {
        return Err(ServiceError::Invalid(format!(
            "'project' must be a valid project name, not '{project}'"
        )));
    }
    let pending = match body.get("pending") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ServiceError::Invalid(
                "'pending' must be true or false".into(),
            ));
        }
    };
    let parsed_provider: Provider = provider.parse().map_err(ServiceError::Invalid)?;
    if let Some(pr) = parsed_provider.preview()
        && !app.settings.previews().contains(&parsed_provider)
    {
        return Err(ServiceError::Invalid(format!(
            "{} is a preview provider (not on PyPI yet: {pr}); start the server with --preview {}",
            parsed_provider.display(),
            parsed_provider.as_str()
        )));
    }
    let gitlab_issuer = default_gitlab_issuer(app).await?;
    let config = PublisherConfig::from_input(parsed_provider, body, gitlab_issuer.as_deref())
        .map_err(ServiceError::Invalid)?;
    let normalized = packaging::normalize_name(project);
    if pending {
        check_pending(app, parsed_provider, &normalized, &config).await?;
    } else {
        app.store.ensure_project(project, &normalized).await?;
    }
    // A pending publisher keeps the name as typed: it becomes the new project's name.
    let stored_name = if pending { project } else { &normalized };
    match app
        .store
        .insert_publisher(provider, stored_name, pending, &config.to_stored())
        .await
    {
        Ok(row) => {
            let mut publisher = Publisher::try_from(row).map_err(|e| anyhow::anyhow!(e))?;
            publisher.expires_at = app.policy.pending_expires_at(&publisher);
            Ok(publisher)
        }
        Err(StoreError::Conflict) => Err(ServiceError::Conflict(format!(
            "an identical {provider} publisher for '{normalized}' exists"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// PyPI's checks for a new pending publisher: an allowed name, no project of that
/// name yet, and no other pending publisher with this configuration.
async fn check_pending(
    app: &App,
    provider: Provider,
    normalized: &str,
    config: &PublisherConfig,
) -> Result<()> {
    // PyPI's pending-publisher form refuses a prohibited name with this text.
    if app.store.is_prohibited(normalized).await? {
        return Err(ServiceError::Invalid(
            "This project name isn't allowed".into(),
        ));
    }
    if app
        .store
        .project_by_normalized_name(normalized)
        .await?
        .is_some()
    {
        return Err(ServiceError::Conflict(format!(
            "project '{normalized}' already exists: register a normal publisher for it (a pending publisher creates a new project)"
        )));
    }
    let clash = publishers(app, Some(provider))
        .await?
        .into_iter()
        .any(|p| p.pending && &p.config == config);
    if clash {
        return Err(ServiceError::Conflict(
            "A pending trusted publisher matching this configuration has already been registered for a different project name".into(),
        ));
    }
    Ok(())
}

/// The publishers (of one provider), parsed.
pub async fn publishers(app: &App, provider: Option<Provider>) -> Result<Vec<Publisher>> {
    let records = app
        .store
        .list_publishers(provider.map(Provider::as_str))
        .await?;
    let mut parsed = Publisher::parse_all(records);
    for p in &mut parsed {
        p.expires_at = app.policy.pending_expires_at(p);
    }
    Ok(parsed)
}

/// Add a trusted issuer after checking its fields.
pub async fn add_issuer(
    app: &App,
    provider: Provider,
    url: &str,
    jwks_url: Option<&str>,
) -> Result<TrustedIssuerRow> {
    for u in std::iter::once(url).chain(jwks_url) {
        let parsed = url::Url::parse(u)
            .map_err(|e| ServiceError::Invalid(format!("'{u}' is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ServiceError::Invalid(format!(
                "'{u}' must be an http or https URL"
            )));
        }
    }
    let row = app
        .store
        .upsert_issuer(provider.as_str(), url, jwks_url)
        .await?;
    app.jwks.clear();
    Ok(row)
}

/// The embedded issuer is trusted by default; configured issuers and publishers are
/// (re)applied at start and after a reset.
pub async fn apply_fixtures(app: &App) -> anyhow::Result<()> {
    apply_default_issuers(app).await?;
    for spec in &app.settings.trusted_issuers {
        add_issuer(app, spec.provider, &spec.url, spec.jwks_url.as_deref())
            .await
            .map_err(|e| anyhow::anyhow!("trusted issuer {}: {e}", spec.url))?;
    }
    for name in &app.settings.prohibited_names {
        anyhow::ensure!(
            packaging::is_valid_name(name.trim()),
            "prohibited name '{name}' is not a valid project name"
        );
        app.store
            .add_prohibited(
                &packaging::normalize_name(name.trim()),
                "from the config file",
            )
            .await?;
    }
    for p in &app.settings.projects {
        apply_project(app, p)
            .await
            .map_err(|e| anyhow::anyhow!("project '{}': {e}", p.name))?;
    }
    for r in &app.settings.releases {
        apply_release(app, r)
            .await
            .map_err(|e| anyhow::anyhow!("release {} {}: {e}", r.project, r.version))?;
    }
    for fault in &app.settings.faults {
        arm_fault(app, fault)
            .await
            .map_err(|e| anyhow::anyhow!("fault {fault}: {e}"))?;
    }
    for publisher in &app.settings.publishers {
        apply_publisher(app, publisher).await?;
    }
    if let Some(room) = &app.workshop {
        room.apply(app).await?;
    }
    Ok(())
}

/// The production issuers (when trusted) and the embedded issuer's, previews included.
async fn apply_default_issuers(app: &App) -> anyhow::Result<()> {
    if app.settings.trust_production_issuers {
        for provider in Provider::ALL {
            app.store
                .upsert_issuer(provider.as_str(), provider.production_issuer(), None)
                .await?;
        }
    }
    if let Some(issuer) = &app.issuer {
        // The preview providers' fake issuers too, when served.
        for provider in app.settings.previews() {
            let url = issuer.issuer_url(provider);
            // Semaphore: one issuer per organisation, a pattern here.
            let url = if provider == Provider::Semaphore && !url.contains('*') {
                format!("{url}/*")
            } else {
                url
            };
            app.store
                .upsert_issuer(provider.as_str(), &url, Some(&issuer.jwks_url(provider)))
                .await?;
        }
        for provider in Provider::ALL {
            // An impersonated `iss` has its discovery document elsewhere: name the keys.
            let jwks = issuer
                .impersonates(provider)
                .then(|| issuer.jwks_url(provider));
            app.store
                .upsert_issuer(
                    provider.as_str(),
                    &issuer.issuer_url(provider),
                    jwks.as_deref(),
                )
                .await?;
        }
    }
    Ok(())
}

/// A `[[publishers]]` entry, on this index unless it names the other one.
async fn apply_publisher(app: &App, publisher: &Map<String, Value>) -> anyhow::Result<()> {
    // `index = "testpypi"` puts a configured publisher on TestPyPI.
    let mut publisher = publisher.clone();
    let index = match publisher.remove("index") {
        None => "pypi".to_owned(),
        Some(serde_json::Value::String(i)) => i,
        Some(other) => anyhow::bail!("publisher index {other}: use \"pypi\" or \"testpypi\""),
    };
    let ours = match index.as_str() {
        "pypi" => app.index == IndexName::PyPI,
        "testpypi" | "test" => app.index == IndexName::TestPyPI,
        other => anyhow::bail!("publisher index '{other}': use \"pypi\" or \"testpypi\""),
    };
    anyhow::ensure!(
        ours || app.index != IndexName::PyPI || app.testpypi.is_some(),
        "a publisher for TestPyPI, but this server serves no TestPyPI (serve --testpypi)"
    );
    if !ours {
        return Ok(());
    }
    let publisher = &publisher;
    match add_publisher(app, publisher).await {
        Ok(_) | Err(ServiceError::Conflict(_)) => {}
        Err(e) => anyhow::bail!(
            "publisher {}: {e}",
            serde_json::Value::Object(publisher.clone())
        ),
    }
    Ok(())
}

/// A `[[projects]]` entry: the project exists, with its status.
async fn apply_project(app: &App, p: &crate::config::ProjectFixture) -> anyhow::Result<()> {
    let name = p.name.trim();
    anyhow::ensure!(packaging::is_valid_name(name), "not a valid project name");
    let status: crate::store::ProjectStatus = p.status.parse().map_err(anyhow::Error::msg)?;
    let normalized = packaging::normalize_name(name);
    app.store.ensure_project(name, &normalized).await?;
    app.store
        .set_project_status(&normalized, status, p.reason.as_deref())
        .await?;
    Ok(())
}

/// A `[[releases]]` entry: a release's lifecycle status.
async fn apply_release(app: &App, r: &crate::config::ReleaseFixture) -> anyhow::Result<()> {
    anyhow::ensure!(
        packaging::is_valid_name(r.project.trim()),
        "not a valid project name"
    );
    let status: crate::store::ReleaseStatus = r.status.parse().map_err(anyhow::Error::msg)?;
    let version = packaging::parse_version(&r.version)
        .map(|v| packaging::canonical_version(&v))
        .map_err(|e| anyhow::anyhow!("not a PEP 440 version: {e}"))?;
    app.store
        .set_release_status(
            &packaging::normalize_name(r.project.trim()),
            &version,
            status,
            r.reason.as_deref(),
        )
        .await?;
    Ok(())
}

/// A file uploaded with an exchange's token.
#[derive(Debug, Serialize)]
pub struct Upload {
    pub project: String,
    #[serde(flatten)]
    pub file: FileRow,
}

/// What an accepted exchange's token did afterwards.
#[derive(Debug, Serialize)]
pub struct TokenActivity {
    /// The token as it is now (expiry, burn); `None` once reset away.
    pub token: Option<TokenRow>,
    pub uploads: Vec<Upload>,
    /// Every burn-token call that named it, newest first, with what it did.
    pub burns: Vec<BurnRow>,
}

/// One exchange as the API and the dashboard show it: the audit row, and for an
/// accepted one, its token's activity.
#[derive(Debug, Serialize)]
pub struct ExchangeActivity {
    #[serde(flatten)]
    pub exchange: ExchangeRow,
    #[serde(flatten)]
    pub activity: Option<TokenActivity>,
}

pub async fn exchange_activity(app: &App, id: i64) -> Result<Option<ExchangeActivity>> {
    let Some(exchange) = app.store.exchange(id).await? else {
        return Ok(None);
    };
    let activity = match &exchange.token_id {
        Some(token_id) => Some(TokenActivity {
            token: app.store.token_by_id(token_id).await?,
            uploads: app
                .store
                .files_by_token(token_id)
                .await?
                .into_iter()
                .map(|(project, file)| Upload { project, file })
                .collect(),
            burns: app.store.burns(Some(token_id), 100).await?,
        }),
        None => None,
    };
    Ok(Some(ExchangeActivity { exchange, activity }))
}

/// Each release's provenance status (PyPI's rules, `provenance`), oldest first; `None`
/// when the project does not exist.
pub async fn provenance_statuses(
    app: &App,
    normalized: &str,
) -> Result<Option<Vec<crate::provenance::Verdict>>> {
    if app
        .store
        .project_by_normalized_name(normalized)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let rows = app.store.releases_provenance(normalized).await?;
    Ok(Some(crate::provenance::from_rows(rows)))
}

/// Forget everything users created, then apply the configured fixtures again.
pub async fn reset(app: &App) -> Result<()> {
    // One sandbox: resetting PyPI resets TestPyPI beside it too.
    if let Some(test) = &app.testpypi {
        reset_index(test).await?;
    }
    reset_index(app).await
}

async fn reset_index(app: &App) -> Result<()> {
    crate::fault_state::clear(app).await?;
    app.store.reset().await?;
    app.jwks.clear();
    app.blobs.clear().await.map_err(anyhow::Error::from)?;
    apply_fixtures(app).await?;
    Ok(())
}

/// Arm a fault from its definition; a bad one is refused with its field named.
pub async fn arm_fault(app: &App, definition: &Value) -> Result<Armed> {
    let spec =
        crate::faults::FaultSpec::parse(definition).map_err(|e| ServiceError::InvalidField {
            field: e.field,
            message: e.message,
        })?;
    // A key-set fault must meet a fetch: forget cached keys, so the next exchange asks.
    if spec.route == crate::faults::Route::IssuerJwks {
        app.jwks.clear();
    }
    Ok(crate::fault_state::arm(app, spec).await?)
}

/// Arm a named scenario's faults (tagged with its name); the scenario and what it armed.
pub async fn arm_scenario(app: &App, name: &str) -> Result<ArmedScenario> {
    let scenario = crate::faults::scenarios::find(name).ok_or_else(|| {
        let names: Vec<&str> = crate::faults::scenarios::all()
            .iter()
            .map(|s| s.name)
            .collect();
        ServiceError::NotFound(format!(
            "no scenario '{name}' (one of: {})",
            names.join(", ")
        ))
    })?;
    let mut armed = Vec::new();
    for fault in &scenario.faults {
        let mut f = fault.clone();
        if let Some(obj) = f.as_object_mut() {
            obj.insert("scenario".into(), Value::from(scenario.name));
        }
        armed.push(arm_fault(app, &f).await?);
    }
    Ok(ArmedScenario { scenario, armed })
}
