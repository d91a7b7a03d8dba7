//! `mock-pypi fault add|list|remove|clear` and `mock-pypi scenario list|show|arm`: the
//! index's faults on demand, through the control API.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::target::{ApiTarget, call};

#[derive(Args, Debug)]
pub struct FaultArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    #[command(subcommand)]
    pub action: FaultAction,
}

#[derive(Subcommand, Debug)]
pub enum FaultAction {
    /// Arm a fault: a JSON definition (as the control API takes it; `@FILE` reads one),
    /// or the shorthand flags.
    Add {
        /// e.g. '{"route": "upload", "status": 503, "when": {"next": 1}}'.
        definition: Option<String>,
        /// The route (audience, mint-token, legacy-mint-token, burn-token, upload,
        /// simple-index, simple-project, json-api, file, issuer-token, issuer-jwks).
        #[arg(long)]
        route: Option<String>,
        /// Answer this status instead.
        #[arg(long)]
        status: Option<u16>,
        /// Delay the answer this many milliseconds.
        #[arg(long)]
        delay_ms: Option<u64>,
        /// Fire on the next N matching requests only.
        #[arg(long)]
        next: Option<u64>,
    },
    /// List armed faults, their counters and requests per route.
    List,
    /// Faults that fired, newest first.
    Events,
    /// Disarm one fault.
    Remove { id: u64 },
    /// Disarm every fault.
    Clear,
}

#[derive(Args, Debug)]
pub struct ScenarioArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    #[command(subcommand)]
    pub action: ScenarioAction,
}

#[derive(Subcommand, Debug)]
pub enum ScenarioAction {
    /// The named scenarios and what each one does.
    List,
    /// One scenario: its faults, its CI-job flags, what a client should do.
    Show { name: String },
    /// Arm a scenario's faults.
    Arm { name: String },
}

fn definition(
    text: Option<String>,
    route: Option<String>,
    status: Option<u16>,
    delay_ms: Option<u64>,
    next: Option<u64>,
) -> anyhow::Result<Value> {
    let mut v = match text {
        Some(t) => {
            let t = match t.strip_prefix('@') {
                Some(path) => {
                    std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?
                }
                None => t,
            };
            serde_json::from_str(&t).context("the definition is not JSON")?
        }
        None => json!({}),
    };
    let obj = v
        .as_object_mut()
        .context("a fault definition is a JSON object")?;
    if let Some(r) = route {
        obj.insert("route".into(), r.into());
    }
    if let Some(s) = status {
        obj.insert("status".into(), s.into());
    }
    if let Some(d) = delay_ms {
        obj.insert("delay_ms".into(), d.into());
    }
    if let Some(n) = next {
        obj.insert("when".into(), json!({"next": n}));
    }
    Ok(v)
}

pub async fn fault(args: FaultArgs) -> anyhow::Result<()> {
    let (server, admin) = args.api.resolve()?;
    let http = crate::http_client::cli()?;
    let url = format!("{server}/_mock/api/faults");
    let answer = match args.action {
        FaultAction::Add {
            definition: text,
            route,
            status,
            delay_ms,
            next,
        } => {
            let body = definition(text, route, status, delay_ms, next)?;
            call(http.post(&url).bearer_auth(&admin).json(&body)).await?
        }
        FaultAction::List => call(http.get(&url).bearer_auth(&admin)).await?,
        FaultAction::Events => call(http.get(format!("{url}/events")).bearer_auth(&admin)).await?,
        FaultAction::Remove { id } => {
            call(http.delete(format!("{url}/{id}")).bearer_auth(&admin)).await?
        }
        FaultAction::Clear => call(http.delete(&url).bearer_auth(&admin)).await?,
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

pub async fn scenario(args: ScenarioArgs) -> anyhow::Result<()> {
    let (server, admin) = args.api.resolve()?;
    let http = crate::http_client::cli()?;
    let url = format!("{server}/_mock/api/scenarios");
    match args.action {
        ScenarioAction::List => {
            let all = call(http.get(&url).bearer_auth(&admin)).await?;
            for s in all["scenarios"].as_array().into_iter().flatten() {
                println!(
                    "{:<28} {}",
                    s["name"].as_str().unwrap_or(""),
                    s["what"].as_str().unwrap_or("")
                );
            }
        }
        ScenarioAction::Show { name } => {
            let s = call(http.get(format!("{url}/{name}")).bearer_auth(&admin)).await?;
            println!("{}", serde_json::to_string_pretty(&s)?);
        }
        ScenarioAction::Arm { name } => {
            let armed = call(http.post(format!("{url}/{name}/arm")).bearer_auth(&admin)).await?;
            let flags: Vec<&str> = armed["scenario"]["env_flags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            eprintln!(
                "armed {} fault(s) for {name}",
                armed["armed"].as_array().map_or(0, Vec::len)
            );
            if !flags.is_empty() {
                eprintln!(
                    "this scenario lives in the CI job: eval \"$(mock-pypi env github … {})\"",
                    flags.join(" ")
                );
            }
            eprintln!(
                "a well-behaved client: {}",
                armed["scenario"]["expected"].as_str().unwrap_or("")
            );
            println!("{}", serde_json::to_string_pretty(&armed)?);
        }
    }
    Ok(())
}
