//! `mock-pypi workshop`: the sandbox for a room (seats, exercises that check themselves,
//! the projector view), and `mock-pypi join`: an attendee's laptop takes a seat.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::{ServeArgs, Settings};
use crate::server_info::ServerInfo;
use crate::workshop::{Plan, exercises};

#[derive(Args, Debug)]
pub struct WorkshopArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// How many seats (attendee-01 …).
    #[arg(long, default_value_t = 30)]
    pub seats: u32,
    /// The exercises [default: the built-in fixtures/workshop/exercises.toml].
    #[arg(long)]
    pub exercises: Option<PathBuf>,
}

/// The exercises a room runs: the file's, or the built-in ones.
pub fn plan(seats: u32, file: Option<&Path>) -> anyhow::Result<Plan> {
    let (source, text) = match file {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => (
            exercises::BUILTIN_NAME.to_owned(),
            exercises::BUILTIN.to_owned(),
        ),
    };
    let exercises = exercises::parse(&source, &text)?;
    anyhow::ensure!(
        (1..=crate::workshop::MAX_SEATS).contains(&seats),
        "--seats {seats}: a room has 1 to {} seats",
        crate::workshop::MAX_SEATS
    );
    Ok(Plan {
        seats,
        exercises,
        source,
    })
}

/// This machine's address on its LAN (the one a default route leaves from), found by
/// pointing a UDP socket at a documentation address: nothing is sent.
fn lan_address() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A room listening on every address is reached at the LAN address: the certificate
/// covers it and the join line names it.
fn advertise(settings: &mut Settings) {
    if settings.public_url.is_some() || !settings.listen.ip().is_unspecified() {
        return;
    }
    if let Some(ip) = lan_address() {
        settings.tls_names.push(ip.to_string());
        if settings.listen.port() != 0 {
            settings.public_url = Some(format!(
                "http://{}",
                SocketAddr::new(ip, settings.listen.port())
            ));
        }
    }
}

/// The first 16 hex digits of the CA certificate's SHA-256 (the PEM text, trimmed):
/// what `join --ca-sha256` checks.
pub fn ca_fingerprint(pem: &str) -> String {
    hex::encode(Sha256::digest(pem.trim().as_bytes()))[..16].to_owned()
}

pub async fn workshop(args: WorkshopArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let plan = plan(args.seats, args.exercises.as_deref())?;
    let mut settings = Settings::resolve(&args.serve)?;
    advertise(&mut settings);
    let seats = plan.seats;
    let count = plan.exercises.len();
    let source = plan.source.clone();
    settings.workshop = Some(plan);
    let next = move |app: &crate::state::App| {
        let fingerprint = app
            .ca_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|pem| format!(" --ca-sha256 {}", ca_fingerprint(&pem)))
            .unwrap_or_default();
        format!(
            "Workshop: {seats} seats (attendee-01 …), {count} exercises from {source}\n  projector view:  {url}/_mock/dashboard/workshop\n  each attendee (K = their seat, 1 to {seats}):\n    eval \"$(mock-pypi join {url} --seat K{fingerprint})\"\n  then their page:  {url}/_mock/dashboard/workshop/seats/K\n  the admin token above is the instructor's: never show it to the room.\n",
            url = app.public_url,
        )
    };
    super::serve::serve_settings(settings, started, Some(&next)).await
}

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// The instructor's server, as their screen shows it (http://HOST:PORT).
    pub url: String,
    /// Your seat number.
    #[arg(long)]
    pub seat: u32,
    /// The CA fingerprint the instructor's join line shows: the CA that comes back
    /// must be that one.
    #[arg(long)]
    pub ca_sha256: Option<String>,
    /// Where this seat's settings go [default: ./.mock-pypi-seat].
    #[arg(long, default_value = ".mock-pypi-seat")]
    pub dir: PathBuf,
    /// Where the exercises' starter files go [default: ./exercises].
    #[arg(long, default_value = "exercises")]
    pub exercises_dir: PathBuf,
}

/// What `join` prints for `eval`: this shell then acts as the seat.
fn exports(dir: &Path, answer: &Value) -> String {
    let q = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    let mut out = format!(
        "export MOCK_PYPI_DATA_DIR={}\n",
        q(&dir.display().to_string())
    );
    if let Some(upload) = answer["upload_url"].as_str() {
        out += &format!("export UV_PUBLISH_URL={}\n", q(upload));
        out += &format!("export TWINE_REPOSITORY_URL={}\n", q(upload));
    }
    if let Some(simple) = answer["simple_url"].as_str() {
        out += &format!("export MOCK_PYPI_INDEX_URL={}\n", q(simple));
    }
    if let Some(http) = answer["http_url"].as_str() {
        out += &format!(
            "export MOCK_PYPI_MINT_URL={}\n",
            q(&format!("{http}/_/oidc/mint-token"))
        );
    }
    out
}

pub async fn join(args: JoinArgs) -> anyhow::Result<()> {
    let base = args.url.trim_end_matches('/').to_owned();
    anyhow::ensure!(
        base.starts_with("http://"),
        "join {base}: use the http:// address the instructor shows (the test CA comes with the answer)"
    );
    let dir = std::path::absolute(&args.dir).context("the seat's directory")?;
    let http = crate::http_client::cli()?;
    // Joined before from here: the same seat of the same server answers its token.
    if let Ok(info) = ServerInfo::read(&dir)
        && info.seat == Some(args.seat)
        && info.http_url.as_deref() == Some(base.as_str())
        && let Some(token) = &info.request_token
    {
        let mine = http
            .get(format!("{base}/_mock/api/workshop/seat"))
            .bearer_auth(token)
            .send()
            .await;
        if let Ok(r) = mine
            && r.status().is_success()
        {
            let answer = json!({"upload_url": info.upload_url, "http_url": info.http_url, "simple_url": info.simple_url});
            eprintln!("# seat {} again, from {}", args.seat, dir.display());
            print!("{}", exports(&dir, &answer));
            return Ok(());
        }
    }
    let unreachable = |e: reqwest::Error| {
        anyhow::anyhow!(
            "cannot reach {base}: is the instructor's server running, and is this the address on their screen? ({e})"
        )
    };
    // The CA first: a server that is not the instructor's gets no seat claimed.
    if let Some(expected) = &args.ca_sha256 {
        let response = http.get(format!("{base}/_mock/api/workshop/ca")).send();
        let answer = answer_of(response.await.map_err(unreachable)?)
            .await
            .map_err(|why| anyhow::anyhow!("{base}: {why}"))?;
        let got = ca_fingerprint(answer["ca_pem"].as_str().unwrap_or(""));
        anyhow::ensure!(
            got.eq_ignore_ascii_case(expected.trim()),
            "the CA from {base} has fingerprint {got}, not {expected}: this is not the instructor's server (no seat was taken, nothing was written)"
        );
    }
    let response = http
        .post(format!("{base}/_mock/api/workshop/join"))
        .json(&json!({"seat": args.seat}))
        .send();
    let answer = answer_of(response.await.map_err(unreachable)?)
        .await
        .map_err(|why| anyhow::anyhow!("seat {}: {why}", args.seat))?;
    let ca_pem = answer["ca_pem"]
        .as_str()
        .context("the server sent no test CA")?;
    if let Some(expected) = &args.ca_sha256 {
        // The same server answered both: still, never write another CA than checked.
        anyhow::ensure!(
            ca_fingerprint(ca_pem).eq_ignore_ascii_case(expected.trim()),
            "the CA from {base} changed while joining: nothing was written"
        );
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_pem)?;
    let ca_bundle = crate::tls::write_bundle(&ca_file).await?;
    let trusted_root = match answer["sigstore_trusted_root"].as_str() {
        Some(text) => {
            let p = dir.join("trusted_root.json");
            std::fs::write(&p, text)?;
            Some(p)
        }
        None => None,
    };
    let text = |k: &str| answer[k].as_str().map(str::to_owned);
    let info = ServerInfo {
        pid: 0,
        http_url: text("http_url"),
        https_url: text("https_url"),
        upload_url: text("upload_url"),
        simple_url: text("simple_url"),
        issuer_url: text("issuer_url"),
        github_issuer: answer["issuers"]["github"].as_str().map(str::to_owned),
        issuers: serde_json::from_value(answer["issuers"].clone()).ok(),
        request_token: text("token"),
        admin_token: None,
        ca_file: Some(ca_file),
        ca_bundle: Some(ca_bundle),
        audience: text("audience"),
        sigstore_url: text("sigstore_url"),
        sigstore_trusted_root: trusted_root,
        testpypi: None,
        seat: Some(args.seat),
    };
    info.write(&dir.join(ServerInfo::FILE)).await?;
    let written = write_starters(&args.exercises_dir, &answer["starter"])?;
    eprintln!(
        "# seat {} ({}) on {base}\n#   your page:  {}\n#   exercises:  {}{}",
        args.seat,
        answer["owner"].as_str().unwrap_or(""),
        answer["page"].as_str().unwrap_or(""),
        args.exercises_dir.display(),
        if written.is_empty() {
            String::new()
        } else {
            format!(" ({})", written.join(", "))
        }
    );
    print!("{}", exports(&dir, &answer));
    Ok(())
}

/// A response's JSON, or why the server refused (its `error`, and the status).
async fn answer_of(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Ok(answer)
    } else {
        let why = answer["error"].as_str().unwrap_or("the server refused");
        Err(format!("{why} ({status})"))
    }
}

/// The dist maker every exercise uses (no build backend, so nothing from the internet).
const MAKE_DIST: &str = include_str!("../../demo/make_dist.py");
/// A starter file's text that stands for [`MAKE_DIST`].
pub const MAKE_DIST_MARK: &str = "@make_dist";

/// Write `make_dist.py` and each exercise's starter files; files already there (an
/// attendee's edits) are kept. What was written.
fn write_starters(root: &Path, starter: &Value) -> anyhow::Result<Vec<String>> {
    let mut files = vec![("make_dist.py".to_owned(), MAKE_DIST.to_owned())];
    if let Some(by_exercise) = starter.as_object() {
        for texts in by_exercise.values() {
            for (path, text) in texts.as_object().into_iter().flatten() {
                let text = text.as_str().unwrap_or("");
                let text = if text.trim() == MAKE_DIST_MARK {
                    MAKE_DIST
                } else {
                    text
                };
                files.push((path.clone(), text.to_owned()));
            }
        }
    }
    let mut written = Vec::new();
    for (path, text) in files {
        // The server checked these paths; a client checks again before writing.
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            continue;
        }
        let target = root.join(&path);
        if target.exists() {
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_on_every_address_is_advertised_at_the_lan_one() {
        let mut settings = Settings::resolve(&ServeArgs::default()).expect("defaults");
        settings.listen = "0.0.0.0:8000".parse().unwrap();
        advertise(&mut settings);
        match lan_address() {
            Some(ip) => {
                assert_eq!(
                    settings.public_url.as_deref(),
                    Some(format!("http://{}", SocketAddr::new(ip, 8000)).as_str())
                );
                assert!(
                    settings.tls_names.contains(&ip.to_string()),
                    "{:?}",
                    settings.tls_names
                );
            }
            // No route out (a machine without a network): the loopback default stays.
            None => assert_eq!(settings.public_url, None),
        }
        // A chosen address, or a chosen public URL, is left as it is.
        let mut chosen = Settings::resolve(&ServeArgs::default()).expect("defaults");
        chosen.listen = "127.0.0.2:8000".parse().unwrap();
        let names = chosen.tls_names.clone();
        advertise(&mut chosen);
        assert_eq!((chosen.public_url, chosen.tls_names), (None, names));
        let mut named = Settings::resolve(&ServeArgs::default()).expect("defaults");
        named.listen = "0.0.0.0:8000".parse().unwrap();
        named.public_url = Some("http://room.example:8000".into());
        advertise(&mut named);
        assert_eq!(
            named.public_url.as_deref(),
            Some("http://room.example:8000")
        );
    }

    #[test]
    fn the_fingerprint_is_of_the_trimmed_pem() {
        assert_eq!(ca_fingerprint("abc\n"), ca_fingerprint("abc"));
        assert_eq!(ca_fingerprint("abc").len(), 16);
    }
}
