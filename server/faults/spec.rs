//! A fault: which route it hits, which requests it matches, when it fires and what it
//! does, as types, in words and as JSON again. Parsing is in `parse`. Pure.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::provider::Provider;

/// The routes a fault can hit. The control API and the dashboard never fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    Audience,
    MintToken,
    /// `/_/oidc/github/mint-token`, the route older clients call.
    LegacyMintToken,
    BurnToken,
    Upload,
    SimpleIndex,
    SimpleProject,
    JsonApi,
    File,
    IssuerToken,
    IssuerJwks,
}

impl Route {
    pub const ALL: [Route; 11] = [
        Route::Audience,
        Route::MintToken,
        Route::LegacyMintToken,
        Route::BurnToken,
        Route::Upload,
        Route::SimpleIndex,
        Route::SimpleProject,
        Route::JsonApi,
        Route::File,
        Route::IssuerToken,
        Route::IssuerJwks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Audience => "audience",
            Route::MintToken => "mint-token",
            Route::LegacyMintToken => "legacy-mint-token",
            Route::BurnToken => "burn-token",
            Route::Upload => "upload",
            Route::SimpleIndex => "simple-index",
            Route::SimpleProject => "simple-project",
            Route::JsonApi => "json-api",
            Route::File => "file",
            Route::IssuerToken => "issuer-token",
            Route::IssuerJwks => "issuer-jwks",
        }
    }

    pub(super) fn parse(s: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_mint(self) -> bool {
        matches!(self, Route::MintToken | Route::LegacyMintToken)
    }

    /// What a request on this route can be matched on.
    pub(super) fn matchable(self) -> (bool, bool, bool) {
        // (project, filename, provider)
        match self {
            Route::SimpleProject | Route::JsonApi => (true, false, false),
            Route::Upload => (true, true, false),
            Route::File => (false, true, false),
            Route::IssuerToken | Route::IssuerJwks => (false, false, true),
            _ => (false, false, false),
        }
    }
}

/// Which requests of the route a fault applies to (all given conditions must hold).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Match {
    /// Normalized project name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// A glob (`*` and `?`) on the file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
}

/// When a matching request is hit.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    /// Every matching request.
    Always,
    /// The next N matching requests.
    Next(u64),
    /// Every Kth matching request (the Kth, the 2Kth, …).
    Every(u64),
    /// Every matching request after the first N (which go through).
    After(u64),
    /// Each matching request with this probability, drawn from a seeded generator.
    Probability { p: f64, seed: u64 },
}

/// How a connection is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// Before the request body is read.
    BeforeBody,
    /// After this many bytes of the request body.
    AfterBodyBytes { bytes: u64 },
    /// After this many bytes of the response body.
    MidResponse { bytes: u64 },
}

/// Whose error page an injected status carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// The index's own answer (PyPI's shape for the route).
    Pypi,
    /// The CDN in front of the index (an HTML error page, `Via`, `X-Served-By`).
    Cdn,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Status {
        status: u16,
        style: Style,
        body: Option<String>,
        content_type: Option<String>,
        retry_after: Option<u64>,
    },
    Delay {
        ms: u64,
    },
    Drip {
        bytes_per_second: u64,
    },
    Close(Close),
    /// Mint-token: the minted upload token lives this long (and `expires` says so).
    TokenLifetime {
        seconds: i64,
    },
    /// Mint-token: answer success without `expires`.
    OmitExpires,
    /// Upload: store the file, then answer this status (a client retries into the
    /// duplicate check).
    StoredThenStatus {
        status: u16,
    },
    /// Upload: store the file, but keep it off the simple pages this long (a stale
    /// CDN cache).
    StaleFor {
        seconds: u64,
    },
    /// Issuer token: the token is for a reusable workflow, this file in the same
    /// repository (`workflow_ref` the caller's, `job_workflow_ref` this one).
    ReusableWorkflow {
        file: String,
    },
}

impl Action {
    /// Whether the upload handler fires it (after reading the form) rather than the layer.
    pub fn in_handler(&self) -> bool {
        matches!(
            self,
            Action::StoredThenStatus { .. } | Action::StaleFor { .. }
        )
    }
}

/// A validated fault definition.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub route: Route,
    pub matching: Match,
    pub when: When,
    /// Stop after firing this many times.
    pub times: Option<u64>,
    pub action: Action,
    /// The scenario that armed it, if any.
    pub scenario: Option<String>,
}

impl Action {
    /// The action's fields as a definition gives them.
    pub fn fields(&self) -> Map<String, Value> {
        let v = match self {
            Action::Status {
                status,
                style,
                body,
                content_type,
                retry_after,
            } => {
                let mut m = json!({"status": status, "style": match style { Style::Pypi => "pypi", Style::Cdn => "cdn" }});
                if let Some(b) = body {
                    m["body"] = json!(b)
                }
                if let Some(c) = content_type {
                    m["content_type"] = json!(c)
                }
                if let Some(r) = retry_after {
                    m["retry_after"] = json!(r)
                }
                m
            }
            Action::Delay { ms } => json!({"delay_ms": ms}),
            Action::Drip { bytes_per_second } => json!({"drip_bytes_per_second": bytes_per_second}),
            Action::Close(Close::BeforeBody) => json!({"close": "before-body"}),
            Action::Close(Close::AfterBodyBytes { bytes }) => {
                json!({"close": "after-body-bytes", "after_bytes": bytes})
            }
            Action::Close(Close::MidResponse { bytes }) => {
                json!({"close": "mid-response", "after_bytes": bytes})
            }
            Action::TokenLifetime { seconds } => json!({"token_lifetime": seconds}),
            Action::OmitExpires => json!({"omit_expires": true}),
            Action::StoredThenStatus { status } => json!({"stored_then_status": status}),
            Action::StaleFor { seconds } => json!({"stale_seconds": seconds}),
            Action::ReusableWorkflow { file } => json!({"reusable_workflow": file}),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

impl Action {
    /// What the action does, in words (the dashboard's column).
    pub fn describe(&self) -> String {
        match self {
            Action::Status {
                status,
                style,
                retry_after,
                ..
            } => {
                let whose = match style {
                    Style::Pypi => "the index's",
                    Style::Cdn => "the CDN's",
                };
                let retry = retry_after
                    .map(|s| format!(", Retry-After: {s}"))
                    .unwrap_or_default();
                format!("answer {status} with {whose} error page{retry}")
            }
            Action::Delay { ms } => format!("delay the answer {ms} ms"),
            Action::Drip { bytes_per_second } => {
                format!("drip the answer at {bytes_per_second} bytes/s")
            }
            Action::Close(Close::BeforeBody) => {
                "drop the connection before reading the body".into()
            }
            Action::Close(Close::AfterBodyBytes { bytes }) => {
                format!("drop the connection after {bytes} bytes of the request body")
            }
            Action::Close(Close::MidResponse { bytes }) => {
                format!("drop the connection after {bytes} bytes of the answer")
            }
            Action::TokenLifetime { seconds } => {
                format!("mint a token that expires after {seconds} s")
            }
            Action::OmitExpires => "answer success without `expires`".into(),
            Action::StoredThenStatus { status } => {
                format!("store the file, then answer {status}")
            }
            Action::StaleFor { seconds } => {
                format!("store the file, keep it off the simple pages for {seconds} s")
            }
            Action::ReusableWorkflow { file } => {
                format!("issue a token for the reusable workflow {file}")
            }
        }
    }
}

impl When {
    /// When it fires, in words.
    pub fn describe(&self) -> String {
        match self {
            When::Always => "every matching request".into(),
            When::Next(1) => "the next matching request".into(),
            When::Next(n) => format!("the next {n} matching requests"),
            When::Every(k) => {
                let suffix = match (k % 10, k % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                format!("every {k}{suffix} matching request")
            }
            When::After(n) => format!("every matching request after the first {n}"),
            When::Probability { p, seed } => {
                format!("with probability {p} (seed {seed})")
            }
        }
    }
}

impl When {
    fn to_value(&self) -> Value {
        match self {
            When::Always => json!("always"),
            When::Next(n) => json!({"next": n}),
            When::Every(k) => json!({"every": k}),
            When::After(n) => json!({"after": n}),
            When::Probability { p, seed } => json!({"probability": p, "seed": seed}),
        }
    }
}

impl Serialize for FaultSpec {
    /// The definition as it was given (normalised), so it can be given again.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = Map::new();
        m.insert("route".into(), json!(self.route.as_str()));
        if self.matching != Match::default() {
            m.insert("match".into(), json!(self.matching));
        }
        m.insert("when".into(), self.when.to_value());
        if let Some(t) = self.times {
            m.insert("times".into(), json!(t));
        }
        if let Some(sc) = &self.scenario {
            m.insert("scenario".into(), json!(sc));
        }
        m.extend(self.action.fields());
        Value::Object(m).serialize(s)
    }
}

impl FaultSpec {
    /// Upload faults that need the form (a project or filename match, or an action the
    /// handler performs) fire in the upload handler; all others in the layer.
    pub fn fires_in_handler(&self) -> bool {
        self.route == Route::Upload
            && (self.action.in_handler()
                || self.matching.project.is_some()
                || self.matching.filename.is_some())
    }
}

/// A refusal naming the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}
