//! A fault definition from JSON (the control API, the config file, the CLI, the Python
//! package), every refusal naming the field. Pure.

use serde_json::{Map, Value};

use super::spec::{Action, Close, FaultSpec, FieldError, Match, Route, Style, When};
use crate::provider::Provider;

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

/// The one action a definition names.
fn action_name(obj: &Map<String, Value>) -> Result<&'static str, FieldError> {
    let given: Vec<&'static str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| *a != "when" && obj.contains_key(*a))
        .collect();
    match given.as_slice() {
        [one] => Ok(*one),
        [] => Err(err(
            "status",
            "a fault needs one action: status, delay_ms, drip_bytes_per_second, close, token_lifetime, omit_expires, stored_then_status, stale_seconds or reusable_workflow",
        )),
        more => Err(err(
            more[1],
            format!("one action per fault (also given: {})", more[0]),
        )),
    }
}

fn parse_status(obj: &Map<String, Value>, v: &Value) -> Result<Action, FieldError> {
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
    Ok(Action::Status {
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
    })
}

fn parse_close(obj: &Map<String, Value>, v: &Value) -> Result<Action, FieldError> {
    let bytes = obj
        .get("after_bytes")
        .map(|b| uint(b, "after_bytes"))
        .transpose()?;
    Ok(match (text(v, "close")?.as_str(), bytes) {
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
    })
}

fn parse_action(obj: &Map<String, Value>, route: Route) -> Result<Action, FieldError> {
    let name = action_name(obj)?;
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
        "status" => parse_status(obj, v)?,
        "delay_ms" => Action::Delay {
            ms: uint(v, "delay_ms")?.min(120_000),
        },
        "drip_bytes_per_second" => match uint(v, name)? {
            0 => return Err(err(name, "must be at least 1")),
            n => Action::Drip {
                bytes_per_second: n,
            },
        },
        "close" => parse_close(obj, v)?,
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
