//! Named scenarios: the failures uploaders meet (reference/failure_modes.md), each as
//! the faults it arms and, for the ones that live in the CI job rather than the index,
//! the `mock-pypi env` flags that make the job. Each says what a well-behaved client
//! does about it.

use serde::Serialize;
use serde_json::{Value, json};

use super::spec::Route;

#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    pub name: &'static str,
    pub what: &'static str,
    /// What a client should do about it.
    pub expected: &'static str,
    /// Faults to arm (fault definitions).
    pub faults: Vec<Value>,
    /// Extra `mock-pypi env github` flags: the failure is in the job's environment.
    pub env_flags: Vec<&'static str>,
    /// Which clients it concerns: `trusted-publishing` ones, or every `upload`er.
    pub applies_to: &'static str,
    /// The route whose requests count a client's retries.
    #[serde(serialize_with = "route_name")]
    pub route: Route,
    /// Words (lowercase) in a client's output that name the cause.
    pub cause_words: &'static [&'static str],
}

fn route_name<S: serde::Serializer>(route: &Route, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(route.as_str())
}

/// Every scenario. Long because it is a table: one entry per scenario, read top to bottom.
pub fn all() -> Vec<Scenario> {
    let s = |name,
             what,
             expected,
             faults: Vec<Value>,
             env_flags,
             applies_to,
             (route, cause_words): (Route, &'static [&'static str])| Scenario {
        name,
        what,
        expected,
        faults,
        env_flags,
        applies_to,
        route,
        cause_words,
    };
    vec![
        s(
            "audience-503",
            "The audience endpoint answers 503 from the CDN twice (as TestPyPI has), then recovers.",
            "Retry with backoff, or fail naming the 503 and the audience URL.",
            vec![json!({"route": "audience", "status": 503, "when": {"next": 2}})],
            vec![],
            "trusted-publishing",
            (Route::Audience, &["503"]),
        ),
        s(
            "mint-500-once",
            "The token exchange answers 500 once.",
            "Retry the exchange (the OIDC token is still valid: its jti was not used).",
            vec![
                json!({"route": "mint-token", "status": 500, "style": "pypi", "when": {"next": 1}}),
            ],
            vec![],
            "trusted-publishing",
            (Route::MintToken, &["500"]),
        ),
        s(
            "upload-reset-midway",
            "The connection is reset after 2 KiB of the first upload's body.",
            "Retry the upload; the index holds one complete file, never a partial one.",
            vec![
                json!({"route": "upload", "close": "after-body-bytes", "after_bytes": 2048, "when": {"next": 1}}),
            ],
            vec![],
            "upload",
            (
                Route::Upload,
                &[
                    "reset",
                    "connection",
                    "broken pipe",
                    "aborted",
                    "closed",
                    "disconnected",
                ],
            ),
        ),
        s(
            "token-expires-mid-publish",
            "Minted tokens live 3 s and each upload takes 2 s, so a two-file publish outlives its token.",
            "Use the exchange's `expires` and mint a new token before it runs out (or report the expiry and that the publish is partial).",
            vec![
                json!({"route": "mint-token", "token_lifetime": 3}),
                json!({"route": "upload", "delay_ms": 2000}),
            ],
            vec![],
            "trusted-publishing",
            (Route::Upload, &["expired"]),
        ),
        s(
            "rate-limited",
            "The first two uploads get 429 Too Many Requests with Retry-After: 1.",
            "Wait as Retry-After says and retry.",
            vec![json!({"route": "upload", "status": 429, "retry_after": 1, "when": {"next": 2}})],
            vec![],
            "upload",
            (Route::Upload, &["429", "too many requests"]),
        ),
        s(
            "stored-but-5xx",
            "The first upload is stored, but the client is told 503 (a CDN timeout after the index committed).",
            "Retry: the same file again is PyPI's quiet 200; a different one is 'File already exists'.",
            vec![json!({"route": "upload", "stored_then_status": 503, "when": {"next": 1}})],
            vec![],
            "upload",
            (Route::Upload, &["503", "service unavailable"]),
        ),
        s(
            "stale-simple-page",
            "New files stay off the simple pages for 30 s after upload (a stale CDN cache).",
            "Do not conclude from the simple page that an upload failed; re-uploading the same file is a quiet 200.",
            vec![json!({"route": "upload", "stale_seconds": 30})],
            vec![],
            "upload",
            (Route::Upload, &[]),
        ),
        s(
            "jwks-slow",
            "The issuer's key set takes 3 s to answer, so the first exchange is slow.",
            "Wait: the exchange succeeds within the index's 5 s key-fetch timeout.",
            vec![json!({"route": "issuer-jwks", "delay_ms": 3000})],
            vec![],
            "trusted-publishing",
            (Route::MintToken, &[]),
        ),
        s(
            "reusable-workflow",
            "The job runs a reusable workflow: its token's job_workflow_ref names the called file, not release.yml.",
            "Report PyPI's refusal (no publisher matches the called workflow) with the claims, so the user can register it.",
            vec![json!({"route": "issuer-token", "reusable_workflow": "reusable-publish.yml"})],
            vec![],
            "trusted-publishing",
            (
                Route::MintToken,
                &[
                    "job_workflow_ref",
                    "reusable",
                    "no corresponding publisher",
                    "invalid-publisher",
                ],
            ),
        ),
        s(
            "no-id-token-permission",
            "The job lacks `permissions: id-token: write`: no token request URL or token in its environment.",
            "Say that the job needs id-token: write.",
            vec![],
            vec!["--without-id-token"],
            "trusted-publishing",
            (Route::MintToken, &["id-token", "permission", "oidc"]),
        ),
        s(
            "fork-pull-request",
            "A pull request from a fork: GitHub gives it no OIDC token.",
            "Say that trusted publishing is unavailable for pull requests from forks.",
            vec![],
            vec!["--event-name", "pull_request", "--without-id-token"],
            "trusted-publishing",
            (
                Route::MintToken,
                &["fork", "id-token", "permission", "oidc"],
            ),
        ),
        s(
            "pull-request-target",
            "The workflow was triggered by pull_request_target, which PyPI refuses.",
            "Report PyPI's refusal: publishing from pull_request_target is not supported.",
            vec![],
            vec!["--event-name", "pull_request_target"],
            "trusted-publishing",
            (Route::MintToken, &["pull_request_target"]),
        ),
    ]
}

pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::spec::FaultSpec;

    #[test]
    fn every_scenario_arms_valid_faults() {
        let all = all();
        assert_eq!(all.len(), 12);
        for s in &all {
            for f in &s.faults {
                FaultSpec::parse(f).unwrap_or_else(|e| panic!("{}: {e:?}", s.name));
            }
            assert!(
                !s.faults.is_empty() || !s.env_flags.is_empty(),
                "{}",
                s.name
            );
        }
    }
}
