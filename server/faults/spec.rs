//! A fault: which route it hits, which requests it matches, when it fires and what it
//! does. Parsed from JSON (the control API, the config file, the CLI, the Python
//! package) with every refusal naming the field. Pure.

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

    fn parse(s: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn is_mint(self) -> bool {
        matches!(self, Route::MintToken | Route::LegacyMintToken)
    }

    /// What a request on this route can be matched on.
    fn matchable(self) -> (bool, bool, bool) {
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

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

const ACTIONS: [&str; 10] = [
    "status",
    "delay_ms",
    "drip_bytes_per_second",
    "close",
    "token_lifetime",
    "omit_expires",
    "stored_then_status",
    "stale_seconds",
    "reusable_workflow",
    "when",
];

fn uint(v: &Value, field: &str) -> Result<u64, FieldError> {
    v.as_u64().ok_or_else(|| {
        err(
            field,
            format!("must be a whole number, 0 or more (got {v})"),
        )
    })
}

fn status(v: &Value, field: &str) -> Result<u16, FieldError> {
    match v.as_u64() {
        Some(n) if (100..=599).contains(&n) => Ok(n as u16),
        _ => Err(err(
            field,
            format!("must be an HTTP status from 100 to 599 (got {v})"),
        )),
    }
}

fn text(v: &Value, field: &str) -> Result<String, FieldError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| err(field, format!("must be text (got {v})")))
}

impl FaultSpec {
    pub fn parse(value: &Value) -> Result<Self, FieldError> {
        let obj = value
            .as_object()
            .ok_or_else(|| err("", "a fault is a JSON object with at least 'route'"))?;
        for key in obj.keys() {
            let known = [
                "route",
                "match",
                "when",
                "times",
                "scenario",
                "style",
                "body",
                "content_type",
                "retry_after",
                "after_bytes",
            ];
            if !known.contains(&key.as_str()) && !ACTIONS.contains(&key.as_str()) {
                return Err(err(key, "unknown field"));
            }
        }
        let route_name = obj
            .get("route")
            .map(|v| text(v, "route"))
            .transpose()?
            .ok_or_else(|| err("route", "required: which route the fault hits"))?;
        let route = Route::parse(&route_name).ok_or_else(|| {
            let all: Vec<&str> = Route::ALL.iter().map(|r| r.as_str()).collect();
            err(
                "route",
                format!("unknown route '{route_name}' (one of: {})", all.join(", ")),
            )
        })?;
        let matching = parse_match(obj.get("match"), route)?;
        let when = parse_when(obj.get("when"))?;
        let times = obj.get("times").map(|v| uint(v, "times")).transpose()?;
        let action = parse_action(obj, route)?;
        let spec = FaultSpec {
            route,
            matching,
            when,
            times,
            action,
            scenario: obj
                .get("scenario")
                .map(|v| text(v, "scenario"))
                .transpose()?,
        };
        if spec.fires_in_handler() && matches!(spec.action, Action::Close(_) | Action::Drip { .. })
        {
            return Err(err(
                "match",
                "connection and drip faults fire before the upload form is read: they cannot match a project or filename",
            ));
        }
        Ok(spec)
    }
}

fn parse_match(v: Option<&Value>, route: Route) -> Result<Match, FieldError> {
    let Some(v) = v else {
        return Ok(Match::default());
    };
    let obj = v
        .as_object()
        .ok_or_else(|| err("match", "must be an object: project, filename, provider"))?;
    let (project_ok, filename_ok, provider_ok) = route.matchable();
    let mut m = Match::default();
    for (key, value) in obj {
        let field = format!("match.{key}");
        let possible = match key.as_str() {
            "project" => project_ok,
            "filename" => filename_ok,
            "provider" => provider_ok,
            _ => return Err(err(&field, "unknown (project, filename or provider)")),
        };
        if !possible {
            return Err(err(
                &field,
                format!(
                    "requests on route '{}' carry no {key} to match",
                    route.as_str()
                ),
            ));
        }
        let t = text(value, &field)?;
        match key.as_str() {
            "project" => m.project = Some(crate::packaging::normalize_name(&t)),
            "filename" => m.filename = Some(t),
            _ => m.provider = Some(t.parse::<Provider>().map_err(|e| err(&field, e))?),
        }
    }
    Ok(m)
}

fn parse_when(v: Option<&Value>) -> Result<When, FieldError> {
    let Some(v) = v else { return Ok(When::Always) };
    if v.as_str() == Some("always") {
        return Ok(When::Always);
    }
    let obj: &Map<String, Value> = v.as_object().ok_or_else(|| {
        err("when", "\"always\", or one of {\"next\": N}, {\"every\": K}, {\"after\": N}, {\"probability\": P, \"seed\": S}")
    })?;
    let one = |key: &str| {
        obj.get(key)
            .map(|v| uint(v, &format!("when.{key}")))
            .transpose()
    };
    if let Some(p) = obj.get("probability") {
        let p = p
            .as_f64()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| err("when.probability", "must be a number from 0 to 1"))?;
        let seed = one("seed")?.unwrap_or(0);
        return Ok(When::Probability { p, seed });
    }
    match (one("next")?, one("every")?, one("after")?) {
        (Some(n), None, None) if n > 0 => Ok(When::Next(n)),
        (None, Some(k), None) if k > 0 => Ok(When::Every(k)),
        (None, None, Some(n)) => Ok(When::After(n)),
        (Some(0), _, _) => Err(err("when.next", "must be at least 1")),
        (_, Some(0), _) => Err(err("when.every", "must be at least 1")),
        _ => Err(err(
            "when",
            "give exactly one of next, every, after or probability",
        )),
    }
}

fn parse_action(obj: &Map<String, Value>, route: Route) -> Result<Action, FieldError> {
    let given: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| *a != "when" && obj.contains_key(*a))
        .collect();
    let name = match given.as_slice() {
        [one] => *one,
        [] => {
            return Err(err(
                "status",
                "a fault needs one action: status, delay_ms, drip_bytes_per_second, close, token_lifetime, omit_expires, stored_then_status, stale_seconds or reusable_workflow",
            ));
        }
        more => {
            return Err(err(
                more[1],
                format!("one action per fault (also given: {})", more[0]),
            ));
        }
    };
    let only = |routes: &[Route], what: &str| -> Result<(), FieldError> {
        if routes.contains(&route) {
            Ok(())
        } else {
            let names: Vec<&str> = routes.iter().map(|r| r.as_str()).collect();
            Err(err(
                name,
                format!("{what} applies to route {} only", names.join(" or ")),
            ))
        }
    };
    let v = &obj[name];
    Ok(match name {
        "status" => {
            let status = status(v, "status")?;
            let style = match obj
                .get("style")
                .map(|s| text(s, "style"))
                .transpose()?
                .as_deref()
            {
                None if matches!(status, 502..=504) => Style::Cdn,
                None | Some("pypi") => Style::Pypi,
                Some("cdn") => Style::Cdn,
                Some(other) => {
                    return Err(err(
                        "style",
                        format!("'{other}' is neither 'pypi' nor 'cdn'"),
                    ));
                }
            };
            Action::Status {
                status,
                style,
                body: obj.get("body").map(|b| text(b, "body")).transpose()?,
                content_type: obj
                    .get("content_type")
                    .map(|b| text(b, "content_type"))
                    .transpose()?,
                retry_after: obj
                    .get("retry_after")
                    .map(|b| uint(b, "retry_after"))
                    .transpose()?,
            }
        }
        "delay_ms" => Action::Delay {
            ms: uint(v, "delay_ms")?.min(120_000),
        },
        "drip_bytes_per_second" => match uint(v, name)? {
            0 => return Err(err(name, "must be at least 1")),
            n => Action::Drip {
                bytes_per_second: n,
            },
        },
        "close" => {
            let bytes = obj
                .get("after_bytes")
                .map(|b| uint(b, "after_bytes"))
                .transpose()?;
            match (text(v, "close")?.as_str(), bytes) {
                ("before-body", None) => Action::Close(Close::BeforeBody),
                ("after-body-bytes", Some(bytes)) => Action::Close(Close::AfterBodyBytes { bytes }),
                ("mid-response", Some(bytes)) => Action::Close(Close::MidResponse { bytes }),
                ("after-body-bytes" | "mid-response", None) => {
                    return Err(err("after_bytes", "required with this close"));
                }
                ("before-body", Some(_)) => {
                    return Err(err("after_bytes", "not used with close: before-body"));
                }
                (other, _) => {
                    return Err(err(
                        "close",
                        format!("'{other}' is not before-body, after-body-bytes or mid-response"),
                    ));
                }
            }
        }
        "token_lifetime" => {
            only(
                &[Route::MintToken, Route::LegacyMintToken],
                "token_lifetime",
            )?;
            match v.as_i64() {
                Some(s) if s > 0 => Action::TokenLifetime { seconds: s },
                _ => return Err(err(name, "must be a positive number of seconds")),
            }
        }
        "omit_expires" => {
            only(&[Route::MintToken, Route::LegacyMintToken], "omit_expires")?;
            if v != &Value::Bool(true) {
                return Err(err(name, "must be true"));
            }
            Action::OmitExpires
        }
        "stored_then_status" => {
            only(&[Route::Upload], "stored_then_status")?;
            Action::StoredThenStatus {
                status: status(v, name)?,
            }
        }
        "stale_seconds" => {
            only(&[Route::Upload], "stale_seconds")?;
            Action::StaleFor {
                seconds: uint(v, name)?.min(86_400),
            }
        }
        _ => {
            only(&[Route::IssuerToken], "reusable_workflow")?;
            let file = text(v, name)?;
            if !(file.ends_with(".yml") || file.ends_with(".yaml")) || file.contains('/') {
                return Err(err(
                    name,
                    "must be a workflow file name ending in .yml or .yaml",
                ));
            }
            Action::ReusableWorkflow { file }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(v: Value) -> String {
        FaultSpec::parse(&v).unwrap_err().field
    }

    #[test]
    fn bad_definitions_name_their_field() {
        assert_eq!(field(json!({"status": 503})), "route");
        assert_eq!(field(json!({"route": "nowhere", "status": 503})), "route");
        assert_eq!(field(json!({"route": "upload", "status": 600})), "status");
        assert_eq!(field(json!({"route": "upload", "status": 99})), "status");
        assert_eq!(field(json!({"route": "audience"})), "status");
        assert_eq!(
            field(json!({"route": "audience", "status": 503, "delay_ms": 5})),
            "delay_ms"
        );
        assert_eq!(
            field(json!({"route": "audience", "status": 503, "match": {"project": "x"}})),
            "match.project"
        );
        assert_eq!(
            field(json!({"route": "file", "status": 404, "match": {"provider": "github"}})),
            "match.provider"
        );
        assert_eq!(
            field(
                json!({"route": "issuer-jwks", "delay_ms": 5, "match": {"provider": "circleci"}})
            ),
            "match.provider"
        );
        assert_eq!(
            field(json!({"route": "upload", "token_lifetime": 5})),
            "token_lifetime"
        );
        assert_eq!(
            field(json!({"route": "upload", "close": "after-body-bytes"})),
            "after_bytes"
        );
        assert_eq!(
            field(
                json!({"route": "upload", "close": "before-body", "match": {"filename": "*.whl"}})
            ),
            "match"
        );
        assert_eq!(
            field(json!({"route": "upload", "status": 503, "when": {"next": 0}})),
            "when.next"
        );
        assert_eq!(
            field(json!({"route": "upload", "status": 503, "when": {"probability": 2}})),
            "when.probability"
        );
        assert_eq!(
            field(json!({"route": "upload", "status": 503, "surprise": 1})),
            "surprise"
        );
        assert_eq!(
            field(json!({"route": "upload", "status": 503, "style": "html"})),
            "style"
        );
    }

    #[test]
    fn described_in_words() {
        let words = |v: Value| {
            let f = FaultSpec::parse(&v).unwrap();
            format!("{}: {}", f.when.describe(), f.action.describe())
        };
        assert_eq!(
            words(
                json!({"route": "upload", "status": 429, "retry_after": 2, "when": {"every": 2}})
            ),
            "every 2nd matching request: answer 429 with the index's error page, Retry-After: 2"
        );
        assert_eq!(
            words(json!({"route": "audience", "status": 503, "when": {"every": 12}})),
            "every 12th matching request: answer 503 with the CDN's error page"
        );
        assert_eq!(
            words(json!({"route": "mint-token", "token_lifetime": 5, "when": {"next": 1}})),
            "the next matching request: mint a token that expires after 5 s"
        );
    }

    #[test]
    fn good_definitions_parse() {
        let f = FaultSpec::parse(&json!({"route": "audience", "status": 503})).unwrap();
        assert_eq!(
            f.action,
            Action::Status {
                status: 503,
                style: Style::Cdn,
                body: None,
                content_type: None,
                retry_after: None
            }
        );
        assert_eq!(f.when, When::Always);
        let f = FaultSpec::parse(&json!({"route": "upload", "stored_then_status": 503, "match": {"filename": "*.whl", "project": "Demo_Pkg"}, "when": {"next": 1}})).unwrap();
        assert!(f.fires_in_handler());
        assert_eq!(f.matching.project.as_deref(), Some("demo-pkg"));
        let f = FaultSpec::parse(
            &json!({"route": "upload", "close": "after-body-bytes", "after_bytes": 1000}),
        )
        .unwrap();
        assert!(!f.fires_in_handler());
        let f = FaultSpec::parse(&json!({"route": "mint-token", "token_lifetime": 5, "when": {"probability": 0.5, "seed": 7}})).unwrap();
        assert_eq!(f.when, When::Probability { p: 0.5, seed: 7 });
    }
}
