//! `mock-pypi api-token create|list|revoke`: long-lived API tokens.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::target::{ApiTarget, call};

#[derive(Args, Debug)]
pub struct ApiTokenArgs {
    #[command(flatten)]
    pub api: ApiTarget,
    #[command(subcommand)]
    pub action: ApiTokenAction,
}

#[derive(Subcommand, Debug)]
pub enum ApiTokenAction {
    /// Create a token and print it (it is shown only once).
    Create {
        /// Scope it to one project [default: every project].
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Seconds until it expires [default: never].
        #[arg(long)]
        lifetime: Option<i64>,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by its id.
    Revoke { id: String },
}

pub async fn api_token(args: ApiTokenArgs) -> anyhow::Result<()> {
    let (server, admin) = args.api.resolve()?;
    let http = crate::http_client::cli()?;
    let url = format!("{server}/_mock/api/tokens");
    match args.action {
        ApiTokenAction::Create {
            project,
            description,
            lifetime,
        } => {
            let body = json!({"project": project, "description": description, "lifetime_seconds": lifetime});
            let created = call(http.post(&url).bearer_auth(&admin).json(&body)).await?;
            // The token alone on stdout, for `TOKEN=$(mock-pypi api-token create …)`.
            eprintln!(
                "token {} for {}",
                created["id"].as_str().unwrap_or(""),
                created["projects"]
                    .as_array()
                    .map_or("every project".to_owned(), |p| format!(
                        "{}",
                        Value::Array(p.clone())
                    ))
            );
            println!("{}", created["token"].as_str().unwrap_or(""));
        }
        ApiTokenAction::List => {
            let list = call(http.get(&url).bearer_auth(&admin)).await?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        ApiTokenAction::Revoke { id } => {
            let row = call(http.delete(format!("{url}/{id}")).bearer_auth(&admin)).await?;
            println!("{}", serde_json::to_string_pretty(&row)?);
        }
    }
    Ok(())
}
