//! Load and resource benchmarks against the real release binary on loopback.
//! Run: `cargo bench --bench load` (all), or `MOCK_PYPI_BENCH=mint,simple cargo bench --bench load`.
//! Scenarios: startup, baseline, mint, uploads, simple, big-upload, one-core-upload,
//! attestations, preflight, act, null (the same uploads against a null server on the
//! same stack: the ceiling); and only when named, upload-memory (RSS over 10,000
//! uploads) and soak (`MOCK_PYPI_BENCH_SOAK_SECONDS`, 1,800 by default). Every loop is bounded in
//! count and time. PostgreSQL: set `MOCK_PYPI_TEST_DATABASE_URL` to a cluster's admin URL
//! (`tests/pg-cluster.sh start DIR` prints one); `MOCK_PYPI_BENCH_REPLICAS=2` runs the mint
//! and upload loops against two server processes on one database and data directory;
//! `MOCK_PYPI_BENCH_CLIENTS=N` overrides the number of concurrent clients. With `MOCK_PYPI_BENCH_MARK=FILE` the server's PID is written to FILE as
//! each measured loop starts (for attaching a profiler).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mock_pypi::issuer::claims::ClaimContext;
use mock_pypi::issuer::github::GitHubIdentity;
use mock_pypi::issuer::keys::SigningKey;
use sha2::{Digest, Sha256};
use test_support::{FIXTURE_KEY, Server, dists};

const QUIET: &[(&str, &str)] = &[("RUST_LOG", "warn")];

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// Where the CPU went during a measured loop: the server and this load generator
/// share the machine's cores.
struct CpuMeter {
    servers: Vec<String>,
    server_start: f64,
    own_start: f64,
}

fn servers_cpu(pids: &[String]) -> f64 {
    pids.iter().map(|p| cpu_seconds(p)).sum()
}

impl CpuMeter {
    fn start(servers: &[Server]) -> Self {
        let pids: Vec<String> = servers.iter().map(|s| s.pid().to_string()).collect();
        // Profiling hook: tell an external profiler which process to watch, and when.
        if let Ok(path) = std::env::var("MOCK_PYPI_BENCH_MARK") {
            let _ = std::fs::write(path, &pids[0]);
        }
        Self {
            server_start: servers_cpu(&pids),
            own_start: cpu_seconds("self"),
            servers: pids,
        }
    }
    fn summary(&self, elapsed: Duration) -> String {
        let s = elapsed.as_secs_f64();
        format!(
            "cores used: server{} {:.2}, load generator {:.2}",
            if self.servers.len() > 1 { "s" } else { "" },
            (servers_cpu(&self.servers) - self.server_start) / s,
            (cpu_seconds("self") - self.own_start) / s
        )
    }
}

fn report(
    name: &str,
    n: usize,
    elapsed: Duration,
    mut latencies: Vec<Duration>,
    target: &str,
    cpu: &CpuMeter,
) {
    latencies.sort();
    println!(
        "{name:<28} {n:>7} ops in {:>6.2} s = {:>8.0} ops/s   p50 {:>6.2} ms  p99 {:>6.2} ms   (target: {target}; {})",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        cpu.summary(elapsed),
    );
}

/// Concurrent clients: the scenario's default unless `MOCK_PYPI_BENCH_CLIENTS` says.
fn clients(default: usize) -> usize {
    std::env::var("MOCK_PYPI_BENCH_CLIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn replicas_label(servers: &[Server]) -> String {
    match servers.len() {
        1 => String::new(),
        n => format!(", {n} replicas"),
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn startup() {
    // A data directory that already exists (keys, certificates, database).
    let first = Server::launch(&[], QUIET);
    let data_dir = first.data_dir();
    drop(first);
    let mut times = Vec::new();
    for _ in 0..15 {
        let start = Instant::now();
        let mut child = test_support::serve_command(&data_dir)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Serving means: the health endpoint answers.
        let info = test_support::wait_for_server(&data_dir, child.id()).expect("server started");
        let url = format!("{}/_mock/health", info["http_url"].as_str().unwrap());
        let addr = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        loop {
            use std::io::{Read, Write};
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let _ = write!(
                    s,
                    "GET /_mock/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                );
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.1 200") {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(start.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    times.sort();
    println!(
        "{:<28} median {:.1} ms, max {:.1} ms over {} starts (target: < 200 ms)",
        "cold start (existing dir)",
        percentile(&times, 0.5),
        percentile(&times, 1.0),
        times.len()
    );
}

/// When a measured loop stops: after a number of operations, or after a time.
#[derive(Clone, Copy)]
enum Until {
    Count(usize),
    Deadline(Duration),
    /// A deadline with the soak's far larger bound on operations.
    Soak(Duration),
}

/// Bound on operations in the soak (30 minutes at well over 5,000/s).
const MAX_SOAK_OPS: usize = 50_000_000;

/// Bound on operations in a time-limited loop.
const MAX_OPS: usize = 500_000;

/// `clients` concurrent request loops, each on its own connection to one of the
/// replicas (client j → replica j mod n); `op(client, replica, i)` performs operation
/// `i` and checks its answer. Returns every latency and the loop's wall time, with the
/// CPU meter started just before.
async fn drive<F, Fut>(
    servers: &[Server],
    clients: usize,
    until: Until,
    op: F,
) -> (Vec<Duration>, Duration, CpuMeter)
where
    F: Fn(reqwest::Client, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = CpuMeter::start(servers);
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|j| {
            let replica = j % servers.len();
            let (op, next, client) = (op.clone(), next.clone(), servers[replica].client());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let more = match until {
                        Until::Count(n) => i < n,
                        Until::Deadline(d) => start.elapsed() < d && i < MAX_OPS,
                        Until::Soak(d) => start.elapsed() < d && i < MAX_SOAK_OPS,
                    };
                    if !more {
                        break lat;
                    }
                    let t0 = Instant::now();
                    op(client.clone(), replica, i).await;
                    lat.push(t0.elapsed());
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    (lat, start.elapsed(), cpu)
}

async fn mint(servers: &[Server]) {
    let server = &servers[0];
    server
        .add_github_publisher("bench-mint", "octo-org/bench-mint", "release.yml", "")
        .await;
    let n: usize = std::env::var("MOCK_PYPI_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15_000);
    let iss = server.info["github_issuer"].as_str().unwrap().to_owned();
    // Sign in advance, on all cores, so the measurement is the index's work.
    let tokens: Vec<String> = {
        let key = Arc::new(SigningKey::from_pem(&std::fs::read(FIXTURE_KEY).unwrap()).unwrap());
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let (key, iss) = (key.clone(), iss.clone());
                std::thread::spawn(move || {
                    let identity = GitHubIdentity {
                        repository: "octo-org/bench-mint".into(),
                        ..Default::default()
                    };
                    (0..n / 2)
                        .map(|i| {
                            let jti = format!("bench-{t}-{i}");
                            let now = mock_pypi::util::now();
                            let ctx = ClaimContext::at(&iss, "pypi", now, 600, &jti);
                            let claims = identity.claims(&ctx);
                            key.sign(&claims).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    };
    let tokens = Arc::new(tokens);
    let urls: Arc<Vec<String>> = Arc::new(
        servers
            .iter()
            .map(|s| format!("{}/_/oidc/mint-token", s.https()))
            .collect(),
    );
    let count = tokens.len();
    let clients = clients(16);
    let (lat, elapsed, cpu) = drive(
        servers,
        clients,
        Until::Count(count),
        move |client, replica, i| {
            let (tokens, urls) = (tokens.clone(), urls.clone());
            async move {
                let r = client
                    .post(&urls[replica])
                    .json(&serde_json::json!({"token": tokens[i]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                let _ = r.bytes().await;
            }
        },
    )
    .await;
    report(
        &format!("mint-token ({clients} clients{})", replicas_label(servers)),
        lat.len(),
        elapsed,
        lat,
        ">= 3000/s, p99 < 20 ms",
        &cpu,
    );
}

fn form(project: &str, version: &str, filename: &str, bytes: Vec<u8>) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text(":action", "file_upload")
        .text("protocol_version", "1")
        .text("metadata_version", "2.1")
        .text("name", project.to_owned())
        .text("version", version.to_owned())
        .text("filetype", "bdist_wheel")
        .text("pyversion", "py3")
        .text("sha256_digest", hex::encode(Sha256::digest(&bytes)))
        .part(
            "content",
            reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned()),
        )
}

/// One legacy upload with an API token; panics unless it is accepted.
async fn upload_one(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    project: &str,
    (version, name, bytes): (&str, &str, Vec<u8>),
) {
    let r = client
        .post(url)
        .basic_auth("__token__", Some(token))
        .multipart(form(project, version, name, bytes))
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 200, "{}", r.text().await.unwrap());
}

async fn upload_token(server: &Server, project: &str) -> String {
    server
        .add_github_publisher(project, &format!("octo-org/{project}"), "release.yml", "")
        .await;
    let oidc = server.github_token(&["--repository", &format!("octo-org/{project}")]);
    server.mint(&oidc).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn uploads(servers: &[Server]) {
    let token = upload_token(&servers[0], "bench-up").await;
    let dir = test_support::tempdir();
    let n = 6_000;
    let wheels: Vec<(String, String, Vec<u8>)> = (0..n)
        .map(|i| {
            let version = format!("0.{}.{}", i / 1000, i % 1000);
            let d = dists::build(&dir.path().join(&version), "bench-up", &version);
            let name = d.wheel.file_name().unwrap().to_string_lossy().into_owned();
            (version, name, std::fs::read(&d.wheel).unwrap())
        })
        .collect();
    let wheels = Arc::new(wheels);
    let urls: Arc<Vec<String>> = Arc::new(
        servers
            .iter()
            .map(|s| format!("{}/legacy/", s.https()))
            .collect(),
    );
    let count = wheels.len();
    let clients = clients(8);
    let (lat, elapsed, cpu) = drive(
        servers,
        clients,
        Until::Count(count),
        move |client, replica, i| {
            let (wheels, urls, token) = (wheels.clone(), urls.clone(), token.clone());
            async move {
                let (version, name, bytes) = &wheels[i];
                let wheel = (version.as_str(), name.as_str(), bytes.clone());
                upload_one(&client, &urls[replica], &token, "bench-up", wheel).await;
            }
        },
    )
    .await;
    report(
        &format!(
            "small wheel uploads ({clients} cl.{})",
            replicas_label(servers)
        ),
        lat.len(),
        elapsed,
        lat,
        ">= 1000/s",
        &cpu,
    );
}

/// The floor: a trivial endpoint through the same clients, TLS and HTTP stack.
async fn baseline(server: &Server) {
    for (label, base) in [
        ("baseline GET over HTTPS", server.https()),
        ("baseline GET over HTTP", server.http()),
    ] {
        let url = format!("{base}/_/oidc/audience");
        let (lat, elapsed, cpu) = drive(
            std::slice::from_ref(server),
            16,
            Until::Deadline(Duration::from_secs(3)),
            move |client, _, _| {
                let url = url.clone();
                async move {
                    let r = client.get(&url).send().await.unwrap();
                    assert_eq!(r.status(), 200);
                    let _ = r.bytes().await.unwrap();
                }
            },
        )
        .await;
        report(label, lat.len(), elapsed, lat, "reference", &cpu);
    }
}

async fn simple(server: &Server) {
    let token = upload_token(server, "bench-simple").await;
    let dir = test_support::tempdir();
    for version in ["1.0", "1.1"] {
        let d = dists::build(&dir.path().join(version), "bench-simple", version);
        let name = d.wheel.file_name().unwrap().to_string_lossy().into_owned();
        let r = server
            .client()
            .post(format!("{}/legacy/", server.https()))
            .basic_auth("__token__", Some(&token))
            .multipart(form(
                "bench-simple",
                version,
                &name,
                std::fs::read(&d.wheel).unwrap(),
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let url = format!("{}/simple/bench-simple/", server.http());
    let (lat, elapsed, cpu) = drive(
        std::slice::from_ref(server),
        16,
        Until::Deadline(Duration::from_secs(5)),
        move |client, _, _| {
            let url = url.clone();
            async move {
                let r = client
                    .get(&url)
                    .header("Accept", "application/vnd.pypi.simple.v1+json")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.unwrap();
            }
        },
    )
    .await;
    report(
        "simple page (16 clients)",
        lat.len(),
        elapsed,
        lat,
        ">= 20000/s",
        &cpu,
    );
}

/// A valid 1 GiB wheel: one stored (uncompressed) member holds the bulk.
fn big_wheel(dir: &std::path::Path, project: &str, size: u64) -> std::path::PathBuf {
    use std::io::Write;
    let small = dists::build(&dir.join(format!("small-{project}")), project, "1.0");
    let module = project.replace('-', "_");
    let path = dir.join(format!("{module}-1.0-py3-none-any.whl"));
    let mut src = zip::ZipArchive::new(std::fs::File::open(&small.wheel).unwrap()).unwrap();
    let mut out = zip::ZipWriter::new(std::io::BufWriter::new(
        std::fs::File::create(&path).unwrap(),
    ));
    for i in 0..src.len() {
        out.raw_copy_file(src.by_index_raw(i).unwrap()).unwrap();
    }
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    out.start_file(format!("{module}/blob.bin"), options)
        .unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for b in chunk.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    for _ in 0..size / chunk.len() as u64 {
        out.write_all(&chunk).unwrap();
    }
    out.finish()
        .unwrap()
        .into_inner()
        .unwrap()
        .sync_all()
        .unwrap();
    // Let the kernel finish writing it back, or the upload competes with that I/O.
    let _ = std::process::Command::new("sync").status();
    path
}

async fn big_upload() {
    let server = Server::launch(&["--max-upload-size", "2GiB"], QUIET);
    let token = upload_token(&server, "bench-big").await;
    let dir = test_support::tempdir();
    let path = big_wheel(dir.path(), "bench-big", 1 << 30);
    let size = std::fs::metadata(&path).unwrap().len();
    let pid = server.pid();
    let before = rss_kib(pid, "VmRSS:");
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let ceiling = raw_write_speed(&server.data_dir().join("tmp"));
    println!(
        "{:<28} {ceiling:>5.0} MB/s (plain 1 GiB write into the data directory: the ceiling)",
        "disk write, data directory"
    );
    let digest = sha256_file(&path).await;
    // curl streams the file with little CPU of its own, so the figure is the server's;
    // a Rust client on the same two cores measured itself more than the server.
    // The second round re-sends identical bytes: PyPI answers 200 and stores nothing new.
    for (label, base) in [
        ("1 GiB upload, HTTP (curl)", server.http()),
        ("1 GiB upload, HTTPS (curl)", server.https()),
    ] {
        let cpu = CpuMeter::start(std::slice::from_ref(&server));
        let elapsed = curl_upload(
            &server,
            &token,
            &base,
            &path,
            &digest,
            "bench-big",
            "--http1.1",
        )
        .await;
        println!(
            "{label:<28} {:>5.0} MB/s ({:.2} s); server RSS {} MiB before, peak growth {:.1} MiB; {} (target: >= 300 MB/s, growth < 32 MiB)",
            size as f64 / 1e6 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            before / 1024,
            (peak.load(Ordering::Relaxed).saturating_sub(before)) as f64 / 1024.0,
            cpu.summary(elapsed),
        );
    }
    sampler.abort();
}

/// A 200 MiB wheel uploaded to a server pinned to one core (every thread, with
/// `taskset`), curl on the other: the wall time is the server's hashing, parsing and
/// writing, one after the other.
async fn one_core_upload() {
    let server = Server::launch(&["--max-upload-size", "1GiB"], QUIET);
    let pinned = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &server.pid().to_string()])
        .output()
        .expect("taskset (util-linux) is needed for this scenario");
    assert!(pinned.status.success(), "{pinned:?}");
    let dir = test_support::tempdir();
    // HTTP/1.1 is what twine (requests) speaks; curl, like uv, picks HTTP/2 over TLS.
    for (round, (label, base, version)) in [
        ("200 MiB upload, 1 core, HTTP", server.http(), "--http1.1"),
        ("… HTTPS, HTTP/1.1", server.https(), "--http1.1"),
        ("… HTTPS, HTTP/2", server.https(), "--http2"),
    ]
    .into_iter()
    .enumerate()
    {
        // A project each time, so both rounds store the file.
        let project = format!("bench-one-core-{round}");
        let path = big_wheel(dir.path(), &project, 200 << 20);
        let digest = sha256_file(&path).await;
        let token = upload_token(&server, &project).await;
        let cpu = CpuMeter::start(std::slice::from_ref(&server));
        let elapsed = curl_upload(&server, &token, &base, &path, &digest, &project, version).await;
        println!(
            "{label:<28} {:.2} s; {} (target: < 0.7 s)",
            elapsed.as_secs_f64(),
            cpu.summary(elapsed),
        );
    }
}

async fn sha256_file(path: &std::path::Path) -> String {
    let p = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut h = Sha256::new();
        std::io::copy(&mut std::fs::File::open(p).unwrap(), &mut h).unwrap();
        hex::encode(h.finalize())
    })
    .await
    .unwrap()
}

/// Upload `path` (a wheel of project `name`) with curl pinned to the second core,
/// speaking `version` (`--http1.1` or `--http2`); the wall time.
async fn curl_upload(
    server: &Server,
    token: &str,
    base: &str,
    path: &std::path::Path,
    digest: &str,
    name: &str,
    version: &str,
) -> Duration {
    let module = name.replace('-', "_");
    let start = Instant::now();
    let out = tokio::process::Command::new("taskset")
        .args([
            "-c",
            "1",
            "curl",
            version,
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
        ])
        .arg(server.ca_file())
        .args(["-u", &format!("__token__:{token}")])
        .args(["-F", ":action=file_upload", "-F", "protocol_version=1"])
        .args([
            "-F",
            "metadata_version=2.1",
            "-F",
            &format!("name={name}"),
            "-F",
            "version=1.0",
        ])
        .args(["-F", "filetype=bdist_wheel", "-F", "pyversion=py3"])
        .args(["-F", &format!("sha256_digest={digest}")])
        .arg("-F")
        .arg(format!(
            "content=@{};filename={module}-1.0-py3-none-any.whl",
            path.display()
        ))
        .arg(format!("{base}/legacy/"))
        .output()
        .await
        .expect("curl is needed for this scenario");
    let elapsed = start.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// What verifying PEP 740 attestations adds to an upload: the same small wheels
/// uploaded one at a time with and without an attestation (signed by `mock-pypi attest`
/// through the fake Sigstore), medians compared. Needs the test venv's
/// pypi-attestations for the predicate type (tests/run.sh makes it).
async fn attestations() {
    let python =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python");
    if !python.exists() {
        println!("attestations: skipped (run tests/run.sh once for target/test-venv)");
        return;
    }
    let server = Server::launch(&[], QUIET);
    let token = upload_token(&server, "bench-att").await;
    let env = server.env_vars(&["env", "github", "--repository", "octo-org/bench-att"]);
    let dir = test_support::tempdir();
    let n = 200;
    let mut plain = Vec::new();
    let mut attested = Vec::new();
    for i in 0..2 * n {
        let version = format!("1.{i}");
        let d = dists::build(&dir.path().join(&version), "bench-att", &version);
        if i % 2 == 0 {
            attested.push((version, d.wheel))
        } else {
            plain.push((version, d.wheel))
        }
    }
    let files: Vec<&std::path::Path> = attested.iter().map(|(_, w)| w.as_path()).collect();
    test_support::stdout_of(
        std::process::Command::new(env!("CARGO_BIN_EXE_mock-pypi"))
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("MOCK_PYPI_PYTHON", &python)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["attest", "--data-dir"])
            .arg(server.data_dir())
            .args(&files),
    );
    let client = server.client();
    let url = format!("{}/legacy/", server.https());
    let time = async |version: &str, wheel: &std::path::Path, with: bool| {
        let name = wheel.file_name().unwrap().to_string_lossy().into_owned();
        let mut form = form("bench-att", version, &name, std::fs::read(wheel).unwrap());
        if with {
            let att = std::fs::read_to_string(
                wheel.with_file_name(format!("{name}.publish.attestation")),
            )
            .unwrap();
            form = form.text("attestations", format!("[{att}]"));
        }
        let start = Instant::now();
        let r = client
            .post(&url)
            .basic_auth("__token__", Some(&token))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        start.elapsed()
    };
    let (mut with, mut without) = (Vec::new(), Vec::new());
    // Interleaved, so disk and cache effects fall on both alike.
    for ((va, wa), (vp, wp)) in attested.iter().zip(&plain) {
        with.push(time(va, wa, true).await);
        without.push(time(vp, wp, false).await);
    }
    with.sort();
    without.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:<28} median {:.2} ms with, {:.2} ms without: +{:.2} ms; p90 +{:.2} ms over {n} uploads each (target: < 5 ms)",
        "attestation verification",
        ms(with[n / 2]),
        ms(without[n / 2]),
        ms(with[n / 2]) - ms(without[n / 2]),
        ms(with[n * 9 / 10]) - ms(without[n * 9 / 10]),
    );
}

/// MB/s for writing 1 GiB into `dir` (page cache and filesystem included), like `dd`.
fn raw_write_speed(dir: &std::path::Path) -> f64 {
    use std::io::Write;
    let path = dir.join("bench-raw-write");
    let chunk = vec![0u8; 1 << 20];
    let start = Instant::now();
    let mut file = std::fs::File::create(&path).unwrap();
    for _ in 0..1024 {
        file.write_all(&chunk).unwrap();
    }
    drop(file);
    let speed = (1u64 << 30) as f64 / 1e6 / start.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    speed
}

/// A repository of 30 workflows (a tag-triggered build-then-publish, a reusable
/// publishing workflow and its caller, CI with a matrix…), as `mock-pypi preflight`
/// reads them: the median wall time of 20 runs, process start included.
fn preflight() {
    let dir = test_support::tempdir();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    for i in 0..30 {
        let text = match i % 3 {
            0 => format!(
                "name: release-{i}\non:\n  push:\n    tags: ['v*']\n  release:\npermissions: {{}}\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: uv build\n  publish:\n    needs: build\n    environment: pypi\n    permissions:\n      id-token: write\n    steps:\n      - uses: actions/download-artifact@v4\n      - uses: pypa/gh-action-pypi-publish@release/v1\n"
            ),
            1 => format!(
                "name: ci-{i}\non: [push, pull_request]\njobs:\n  test:\n    strategy:\n      matrix:\n        python: ['3.11', '3.12', '3.13']\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - run: uv run pytest\n"
            ),
            _ => format!(
                "name: nightly-{i}\non:\n  schedule:\n    - cron: '0 3 * * *'\n  workflow_dispatch:\njobs:\n  upload:\n    permissions:\n      id-token: write\n    steps:\n      - run: uv build && uv publish --index testpypi\n"
            ),
        };
        std::fs::write(wf.join(format!("w{i:02}.yml")), text).unwrap();
    }
    test_support::git_repo(dir.path(), "git@git.example:octo-org/bench.git", &[]);
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let out = std::process::Command::new(test_support::binary())
            .args(["preflight", "--repo", dir.path().to_str().unwrap(), "--format", "json"])
            .args(["--publisher", "github:repository=octo-org/bench,workflow_filename=w00.yml,environment=pypi,project=bench"])
            .output()
            .unwrap();
        times.push(started.elapsed());
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    times.sort();
    println!(
        "preflight of a 30-workflow repository: median {:.1} ms, max {:.1} ms over {} runs (target < 200 ms)",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        times.len()
    );
}

/// What `mock-pypi act` adds to act itself per run: the same one-job workflow run 5 times
/// each way (act from PATH or `MOCK_PYPI_ACT`), medians compared.
fn act_overhead() {
    let act = std::env::var("MOCK_PYPI_ACT").unwrap_or_else(|_| "act".into());
    let server = Server::launch(&[], QUIET);
    let dir = test_support::tempdir();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("ci.yml"), "on: push\njobs:\n  job:\n    runs-on: ubuntu-latest\n    permissions:\n      id-token: write\n    steps:\n      - run: echo hello\n").unwrap();
    test_support::git_repo(dir.path(), "git@git.example:octo-org/bench.git", &[]);
    let median = |with_mock: bool| {
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let mut cmd = if with_mock {
                let mut c = std::process::Command::new(test_support::binary());
                c.args([
                    "act",
                    "--act",
                    &act,
                    "--data-dir",
                    server.data_dir().to_str().unwrap(),
                    "push",
                ]);
                c
            } else {
                let mut c = std::process::Command::new(&act);
                c.args(["push", "-P", "ubuntu-latest=-self-hosted"]);
                c
            };
            let out = cmd.current_dir(dir.path()).output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            times.push(started.elapsed());
        }
        times.sort();
        times[2]
    };
    let (plain, ours) = (median(false), median(true));
    println!(
        "act, one job: {:.0} ms alone, {:.0} ms through mock-pypi act (+{:.0} ms; target < 1 s)",
        plain.as_secs_f64() * 1000.0,
        ours.as_secs_f64() * 1000.0,
        (ours.as_secs_f64() - plain.as_secs_f64()) * 1000.0
    );
}

fn main() {
    if std::env::var_os("MOCK_PYPI_BENCH_NULL_SERVER").is_some() {
        return null_server_main();
    }
    let only = std::env::var("MOCK_PYPI_BENCH").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|s| s.trim() == name);
    mock_pypi::tls::install_crypto_provider();
    println!(
        "mock-pypi load benchmarks ({} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if wanted("startup") {
        startup();
    }
    if wanted("preflight") {
        preflight();
    }
    if wanted("act") {
        act_overhead();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Long or heavy: only when named.
        let named = |name: &str| only.split(',').any(|s| s.trim() == name);
        if wanted("null") {
            null_ceiling().await;
        }
        if named("other-index") {
            other_index().await;
        }
        if named("soak") || named("upload-memory") {
            let server = Server::launch(&[], QUIET);
            if named("upload-memory") {
                upload_memory(&server).await;
            }
            if named("soak") {
                soak(&server).await;
            }
        }
        if wanted("baseline") || wanted("mint") || wanted("uploads") || wanted("simple") {
            let first = Server::launch(&[], QUIET);
            let replicas: usize = std::env::var("MOCK_PYPI_BENCH_REPLICAS")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let mut servers = Vec::new();
            for _ in 1..replicas {
                servers.push(first.replica_with(QUIET));
            }
            servers.insert(0, first);
            let server = &servers[0];
            println!(
                "backend: {}, {} replica(s)",
                if std::env::var_os("MOCK_PYPI_TEST_DATABASE_URL").is_some() {
                    "PostgreSQL"
                } else {
                    "SQLite"
                },
                servers.len()
            );
            if wanted("baseline") {
                baseline(server).await;
            }
            if wanted("mint") {
                mint(&servers).await;
            }
            if wanted("uploads") {
                uploads(&servers).await;
            }
            if wanted("simple") {
                simple(server).await;
            }
        }
        if wanted("big-upload") {
            big_upload().await;
        }
        if wanted("one-core-upload") {
            one_core_upload().await;
        }
        if wanted("attestations") {
            attestations().await;
        }
    });
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Small wheels for `bench-mem`/`bench-soak`, built ahead (their building is not the
/// server's work).
fn wheels_for(project: &str, n: usize) -> Vec<(String, String, Vec<u8>)> {
    let dir = test_support::tempdir();
    (0..n)
        .map(|i| {
            let version = format!("0.{}.{}", i / 1000, i % 1000);
            let d = dists::build(&dir.path().join(&version), project, &version);
            let name = d.wheel.file_name().unwrap().to_string_lossy().into_owned();
            (version, name, std::fs::read(&d.wheel).unwrap())
        })
        .collect()
}

/// Memory during 10,000 uploads (8 clients): the server's RSS after each thousand.
async fn upload_memory(server: &Server) {
    let token = upload_token(server, "bench-mem").await;
    let n = 10_000;
    let wheels = Arc::new(wheels_for("bench-mem", n));
    let url = format!("{}/legacy/", server.https());
    let done = Arc::new(AtomicUsize::new(0));
    let (pid, counter) = (server.pid(), done.clone());
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut next = 0;
        while next <= n {
            if counter.load(Ordering::Relaxed) >= next {
                samples.push((next, rss_kib(pid, "VmRSS:"), open_fds(pid)));
                next += 1000;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples
    });
    let (lat, elapsed, cpu) = drive(
        std::slice::from_ref(server),
        8,
        Until::Count(n),
        move |client, _, i| {
            let (wheels, url, token, done) =
                (wheels.clone(), url.clone(), token.clone(), done.clone());
            async move {
                let (version, name, bytes) = &wheels[i];
                let wheel = (version.as_str(), name.as_str(), bytes.clone());
                upload_one(&client, &url, &token, "bench-mem", wheel).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        },
    )
    .await;
    report(
        "10,000 uploads (8 cl.)",
        lat.len(),
        elapsed,
        lat,
        "RSS flat",
        &cpu,
    );
    let samples = sampler.await.unwrap();
    for (uploads, rss, fds) in &samples {
        println!("  after {uploads:>6} uploads: RSS {rss:>7} KiB, {fds} open files");
    }
}

/// The soak: 32 clients for `MOCK_PYPI_BENCH_SOAK_SECONDS` (1,800 by default) mixing
/// mints (1 in 10), uploads (1 in 10, a new version each, over 20 projects), simple
/// pages (4 in 10) and file downloads (4 in 10) of a project nobody uploads to (as
/// installers read what CI jobs are not publishing). One line per 30 s window:
/// operations, p99 overall and by kind, RSS and open files. Run it on its own
/// (`MOCK_PYPI_BENCH=soak`); it is not part of the default set.
async fn soak(server: &Server) {
    let seconds: u64 = std::env::var("MOCK_PYPI_BENCH_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1800);
    let window = Duration::from_secs(30.min(seconds.max(1)));
    let token = upload_token(server, "bench-soak").await;
    let mut tokens = Vec::new();
    for p in 0..20 {
        let token = upload_token(server, &format!("bench-soak-{p}")).await;
        tokens.push((token, Instant::now()));
    }
    // Upload tokens live 15 minutes: each is minted again after 10.
    let tokens = Arc::new(std::sync::Mutex::new(tokens));
    server
        .add_github_publisher(
            "bench-soak-mint",
            "octo-org/bench-soak-mint",
            "release.yml",
            "",
        )
        .await;
    // One file to download, uploaded first.
    let first = wheels_for("bench-soak", 1).remove(0);
    let url = format!("{}/legacy/", server.https());
    let wheel = (first.0.as_str(), first.1.as_str(), first.2);
    upload_one(&server.client(), &url, &token, "bench-soak", wheel).await;
    let page = server
        .get_json(&format!("{}/simple/bench-soak/", server.http()))
        .await;
    let file_url = page["files"][0]["url"].as_str().unwrap().to_owned();
    let file_url = if file_url.starts_with("http") {
        file_url
    } else {
        format!("{}{file_url}", server.http())
    };
    let iss = server.info["github_issuer"].as_str().unwrap().to_owned();
    let key = Arc::new(SigningKey::from_pem(&std::fs::read(FIXTURE_KEY).unwrap()).unwrap());
    let uploads_done = Arc::new(AtomicUsize::new(0));
    let samples: Arc<std::sync::Mutex<Vec<(usize, Duration)>>> = Arc::default();
    let start = Instant::now();
    let (pid, recorded) = (server.pid(), samples.clone());
    let reporter = tokio::spawn(async move {
        let mut lines = Vec::new();
        let mut w = 1;
        while start.elapsed() < Duration::from_secs(seconds) {
            tokio::time::sleep_until((start + window * w).into()).await;
            let taken = std::mem::take(&mut *recorded.lock().unwrap());
            // p99 by kind: mint, upload, simple page, file.
            let by_kind: Vec<f64> = (0..4)
                .map(|k| {
                    let mut l: Vec<Duration> = taken
                        .iter()
                        .filter(|(kind, _)| *kind == k)
                        .map(|(_, d)| *d)
                        .collect();
                    l.sort();
                    percentile(&l, 0.99)
                })
                .collect();
            let mut lat: Vec<Duration> = taken.into_iter().map(|(_, d)| d).collect();
            lat.sort();
            let line = (
                window.as_secs() * u64::from(w),
                lat.len(),
                percentile(&lat, 0.99),
                rss_kib(pid, "VmRSS:"),
                open_fds(pid),
            );
            println!(
                "  {:>5} s: {:>7} ops, p99 {:>6.2} ms (mint {:.1}, upload {:.1}, simple {:.1}, file {:.1}), RSS {:>7} KiB, {} open files",
                line.0,
                line.1,
                line.2,
                by_kind[0],
                by_kind[1],
                by_kind[2],
                by_kind[3],
                line.3,
                line.4
            );
            lines.push(line);
            w += 1;
        }
        lines
    });
    let urls = Arc::new((
        format!("{}/legacy/", server.https()),
        format!("{}/simple/bench-soak/", server.http()),
        file_url,
        format!("{}/_/oidc/mint-token", server.https()),
    ));
    let (lat, elapsed, cpu) = drive(
        std::slice::from_ref(server),
        32,
        Until::Soak(Duration::from_secs(seconds)),
        move |client, _, i| {
            let (urls, tokens, key, iss, done, samples) = (
                urls.clone(),
                tokens.clone(),
                key.clone(),
                iss.clone(),
                uploads_done.clone(),
                samples.clone(),
            );
            async move {
                let t0 = Instant::now();
                match i % 10 {
                    0 => {
                        let jti = format!("soak-{i}");
                        let identity = GitHubIdentity {
                            repository: "octo-org/bench-soak-mint".into(),
                            ..Default::default()
                        };
                        // Signing is CPU work: off the load generator's reactor.
                        let oidc = tokio::task::spawn_blocking(move || {
                            let ctx =
                                ClaimContext::at(&iss, "pypi", mock_pypi::util::now(), 600, &jti);
                            key.sign(&identity.claims(&ctx)).unwrap()
                        })
                        .await
                        .unwrap();
                        let r = client
                            .post(&urls.3)
                            .json(&serde_json::json!({"token": oidc}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
                    }
                    1 => {
                        let n = done.fetch_add(1, Ordering::Relaxed);
                        // Building the wheel is file work: off the reactor too.
                        let project = format!("bench-soak-{}", n % 20);
                        let p = n % 20;
                        let fresh = {
                            let held = tokens.lock().unwrap();
                            (held[p].1.elapsed() < Duration::from_secs(600))
                                .then(|| held[p].0.clone())
                        };
                        let token = match fresh {
                            Some(t) => t,
                            None => {
                                let (key, iss) = (key.clone(), iss.clone());
                                let oidc = tokio::task::spawn_blocking(move || {
                                    let identity = GitHubIdentity {
                                        repository: format!("octo-org/bench-soak-{p}"),
                                        ..Default::default()
                                    };
                                    let jti = format!("soak-refresh-{n}");
                                    let now = mock_pypi::util::now();
                                    let ctx = ClaimContext::at(&iss, "pypi", now, 600, &jti);
                                    key.sign(&identity.claims(&ctx)).unwrap()
                                })
                                .await
                                .unwrap();
                                let r = client
                                    .post(&urls.3)
                                    .json(&serde_json::json!({"token": oidc}))
                                    .send()
                                    .await
                                    .unwrap();
                                let body: serde_json::Value = r.json().await.unwrap();
                                let t = body["token"]
                                    .as_str()
                                    .expect("a fresh upload token")
                                    .to_owned();
                                tokens.lock().unwrap()[p] = (t.clone(), Instant::now());
                                t
                            }
                        };
                        let built = project.clone();
                        let (version, name, bytes) = tokio::task::spawn_blocking(move || {
                            let version = format!("1.{}.{}", n / 1000, n % 1000);
                            let dir = test_support::tempdir();
                            let d = dists::build(dir.path(), &built, &version);
                            let name = d.wheel.file_name().unwrap().to_string_lossy().into_owned();
                            (version, name, std::fs::read(&d.wheel).unwrap())
                        })
                        .await
                        .unwrap();
                        let t_up = Instant::now();
                        let wheel = (version.as_str(), name.as_str(), bytes);
                        upload_one(&client, &urls.0, &token, &project, wheel).await;
                        // The wheel's building is the load generator's, not the server's.
                        samples.lock().unwrap().push((1, t_up.elapsed()));
                        return;
                    }
                    2..=5 => {
                        let r = client
                            .get(&urls.1)
                            .header("Accept", "application/vnd.pypi.simple.v1+json")
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 200);
                        let _ = r.bytes().await.unwrap();
                    }
                    _ => {
                        let r = client.get(&urls.2).send().await.unwrap();
                        assert_eq!(r.status(), 200);
                        let _ = r.bytes().await.unwrap();
                    }
                }
                let kind = match i % 10 {
                    0 => 0,
                    2..=5 => 2,
                    _ => 3,
                };
                samples.lock().unwrap().push((kind, t0.elapsed()));
            }
        },
    )
    .await;
    report(
        "soak, mixed (32 cl.)",
        lat.len(),
        elapsed,
        lat,
        "RSS, files, p99 flat",
        &cpu,
    );
    let lines = reporter.await.unwrap();
    if let (Some(first), Some(last)) = (lines.first(), lines.last()) {
        let p99s: Vec<f64> = lines.iter().map(|l| l.2).collect();
        println!(
            "  soak: RSS {} → {} KiB, open files {} → {}, window p99 {:.2}–{:.2} ms",
            first.3,
            last.3,
            first.4,
            last.4,
            p99s.iter().cloned().fold(f64::MAX, f64::min),
            p99s.iter().cloned().fold(0.0, f64::max)
        );
    }
}

/// The harness's null server (this bench binary re-run with
/// `MOCK_PYPI_BENCH_NULL_SERVER=1`): mock-pypi's own listener, TLS and HTTP stack with
/// a handler that reads the body and answers 200, nothing else. What the same clients
/// reach against it is the ceiling of the machine, the harness and the stack.
fn null_server_main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = test_support::tempdir();
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let material = mock_pypi::tls::load(dir.path(), None, &names)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        println!(
            "{} {}",
            addr.port(),
            material.ca_file.as_ref().unwrap().display()
        );
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        let router = axum::Router::new().route(
            "/legacy/",
            axum::routing::post(|body: axum::body::Bytes| async move {
                std::hint::black_box(body.len());
                ""
            }),
        );
        mock_pypi::listener::serve(
            listener,
            addr,
            router,
            tokio_rustls::TlsAcceptor::from(material.config),
            &[],
            std::future::pending(),
        )
        .await
        .unwrap();
    });
}

/// Tiny uploads against the null server, 1 and 8 clients, 5 s each.
async fn null_ceiling() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("MOCK_PYPI_BENCH_NULL_SERVER", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let (port, ca) = line.trim().split_once(' ').unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let url = format!("https://127.0.0.1:{port}/legacy/");
    let wheels = Arc::new(wheels_for("bench-null", 1));
    let pid = child.id().to_string();
    for clients in [1, 8] {
        foreign_uploads(
            &format!("null server, tiny uploads ({clients} cl.)"),
            &url,
            Some(&ca),
            ("__token__", "null"),
            &wheels,
            clients,
            Some(&pid),
        )
        .await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Tiny uploads for 5 s (`MOCK_PYPI_BENCH_SECONDS`) to another server's legacy upload
/// URL, `clients` at once, each a different wheel of `wheels` in turn; with `pid`, that
/// server's CPU.
async fn foreign_uploads(
    label: &str,
    url: &str,
    ca: Option<&reqwest::Certificate>,
    (user, password): (&str, &str),
    wheels: &Arc<Vec<(String, String, Vec<u8>)>>,
    clients: usize,
    pid: Option<&str>,
) {
    let limit = Duration::from_secs(
        std::env::var("MOCK_PYPI_BENCH_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    );
    let started_cpu = pid.map(cpu_seconds).unwrap_or(0.0);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let mut builder = reqwest::Client::builder();
            if let Some(ca) = ca {
                builder = builder.add_root_certificate(ca.clone()).tls_certs_only([]);
            }
            let client = builder.build().unwrap();
            let (url, wheels, next) = (url.to_owned(), wheels.clone(), next.clone());
            let (user, password) = (user.to_owned(), password.to_owned());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while start.elapsed() < limit {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= MAX_OPS {
                        break;
                    }
                    let (version, name, bytes) = &wheels[i % wheels.len()];
                    let project = name.split('-').next().unwrap().replace('_', "-");
                    let t0 = Instant::now();
                    let r = client
                        .post(&url)
                        .basic_auth(&user, Some(&password))
                        .multipart(form(&project, version, name, bytes.clone()))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status();
                    assert!(status.is_success(), "{status}: {}", r.text().await.unwrap());
                    lat.push(t0.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for w in workers {
        lat.extend(w.await.unwrap());
    }
    let elapsed = start.elapsed();
    lat.sort();
    let cpu = pid
        .map(|p| {
            format!(
                "; its cores {:.2}",
                (cpu_seconds(p) - started_cpu) / elapsed.as_secs_f64()
            )
        })
        .unwrap_or_default();
    println!(
        "{label:<40} {:>7} ops in {:>6.2} s = {:>8.0} ops/s   p50 {:>6.2} ms  p99 {:>6.2} ms{cpu}",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    );
}

/// The same tiny uploads to another index (devpi, say: benches/devpi.sh starts one):
/// `MOCK_PYPI_BENCH_OTHER_URL` (its legacy upload URL), `MOCK_PYPI_BENCH_OTHER_AUTH`
/// (`user:password`), `MOCK_PYPI_BENCH_OTHER_PID` (for its CPU).
async fn other_index() {
    let Ok(url) = std::env::var("MOCK_PYPI_BENCH_OTHER_URL") else {
        println!("other index: set MOCK_PYPI_BENCH_OTHER_URL (benches/devpi.sh does)");
        return;
    };
    let auth = std::env::var("MOCK_PYPI_BENCH_OTHER_AUTH").unwrap_or_default();
    let (user, password) = auth.split_once(':').unwrap_or((&auth, ""));
    let pid = std::env::var("MOCK_PYPI_BENCH_OTHER_PID").ok();
    // A wheel of its own per upload: an index may refuse a file it has.
    for clients in [1, 8] {
        let wheels = Arc::new(wheels_for(&format!("bench-other-{clients}"), 2000));
        foreign_uploads(
            &format!("other index, tiny uploads ({clients} cl.)"),
            &url,
            None,
            (user, password),
            &wheels,
            clients,
            pid.as_deref(),
        )
        .await;
    }
}
