//! Armed faults and when they fire: each keeps how many matching requests it has seen
//! and how often it fired; the first armed fault that matches and is due fires. Also
//! counts requests per route (a report card reads retries from it), and keeps the
//! files a fired `stale_seconds` fault hides from the simple pages. Faults live in this
//! process (each replica arms its own).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use serde::Serialize;

use super::spec::{Action, FaultSpec, Route, When};
use crate::provider::Provider;

/// An armed fault and its counters.
#[derive(Clone, Debug, Serialize)]
pub struct Armed {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Matching requests seen so far.
    pub seen: u64,
    pub fired: u64,
    pub armed_at: i64,
    #[serde(skip)]
    rng: u64,
}

/// What a request offers to match on.
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchCtx<'a> {
    pub project: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub provider: Option<Provider>,
}

/// A fault that fired on a request.
#[derive(Clone, Debug)]
pub struct Fired {
    pub id: u64,
    pub route: Route,
    pub action: Action,
    pub scenario: Option<String>,
}

impl Fired {
    /// "fault 3", or "fault 3 (scenario rate-limited)".
    pub fn label(&self) -> String {
        match &self.scenario {
            Some(s) => format!("fault {} (scenario {s})", self.id),
            None => format!("fault {}", self.id),
        }
    }
}

#[derive(Default)]
pub struct Faults {
    armed: RwLock<Vec<Armed>>,
    next_id: AtomicU64,
    /// A cheap check for the common case: nothing armed.
    any: AtomicBool,
    requests: [AtomicU64; Route::ALL.len()],
    /// Files kept off the simple pages: (normalized project, filename, until).
    stale: Mutex<Vec<(String, String, i64)>>,
}

/// A route's counter: `Route::ALL` lists the routes in declaration order (a test
/// holds it to that), so the discriminant is the index.
fn index(route: Route) -> usize {
    route as usize
}

impl Faults {
    pub fn arm(&self, spec: FaultSpec) -> Armed {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let seed = match spec.when {
            When::Probability { seed, .. } => seed,
            _ => 0,
        };
        let armed = Armed {
            id,
            spec,
            seen: 0,
            fired: 0,
            armed_at: crate::util::now(),
            rng: seed,
        };
        let mut list = self.armed.write().unwrap_or_else(|p| p.into_inner());
        list.push(armed.clone());
        self.any.store(true, Ordering::Release);
        armed
    }

    pub fn list(&self) -> Vec<Armed> {
        self.armed.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut list = self.armed.write().unwrap_or_else(|p| p.into_inner());
        let before = list.len();
        list.retain(|a| a.id != id);
        self.any.store(!list.is_empty(), Ordering::Release);
        list.len() != before
    }

    /// Disarm everything, zero the request counters and end every stale-page window.
    pub fn clear(&self) {
        let mut list = self.armed.write().unwrap_or_else(|p| p.into_inner());
        list.clear();
        self.any.store(false, Ordering::Release);
        for c in &self.requests {
            c.store(0, Ordering::Relaxed);
        }
        self.stale.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Keep `filename` of `project` off the simple pages until `until`.
    pub fn hide(&self, project: &str, filename: &str, until: i64) {
        let mut list = self.stale.lock().unwrap_or_else(|p| p.into_inner());
        list.push((project.to_owned(), filename.to_owned(), until));
    }

    /// The files of `project` hidden now (expired entries are forgotten).
    pub fn hidden(&self, project: &str) -> Vec<String> {
        let now = crate::util::now();
        let mut list = self.stale.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|(_, _, until)| *until > now);
        list.iter()
            .filter(|(p, _, _)| p == project)
            .map(|(_, f, _)| f.clone())
            .collect()
    }

    /// Whether any fault is armed.
    pub fn armed(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    pub fn count(&self, route: Route) {
        self.requests[index(route)].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests per route since the last clear.
    pub fn requests(&self) -> Vec<(Route, u64)> {
        Route::ALL
            .iter()
            .map(|r| (*r, self.requests[index(*r)].load(Ordering::Relaxed)))
            .collect()
    }

    /// The first armed fault for `route` that the layer fires, matching `ctx` and due.
    pub fn pick_in_layer(&self, route: Route, ctx: MatchCtx<'_>) -> Option<Fired> {
        self.pick(route, ctx, false)
    }

    /// The first armed upload fault that the upload fires itself, once it knows the
    /// project and file (matching `ctx` and due).
    pub fn pick_in_upload(&self, ctx: MatchCtx<'_>) -> Option<Fired> {
        self.pick(Route::Upload, ctx, true)
    }

    fn pick(&self, route: Route, ctx: MatchCtx<'_>, in_handler: bool) -> Option<Fired> {
        if !self.armed() {
            return None;
        }
        let mut list = self.armed.write().unwrap_or_else(|p| p.into_inner());
        for armed in list.iter_mut() {
            let spec = &armed.spec;
            if spec.route != route || spec.fires_in_handler() != in_handler || !matches(spec, ctx) {
                continue;
            }
            armed.seen += 1;
            if due(
                &spec.when,
                armed.seen,
                armed.fired,
                spec.times,
                &mut armed.rng,
            ) {
                armed.fired += 1;
                return Some(Fired {
                    id: armed.id,
                    route,
                    action: spec.action.clone(),
                    scenario: spec.scenario.clone(),
                });
            }
        }
        None
    }
}

fn matches(spec: &FaultSpec, ctx: MatchCtx<'_>) -> bool {
    let m = &spec.matching;
    m.project.as_deref().is_none_or(|p| ctx.project == Some(p))
        && m.filename
            .as_deref()
            .is_none_or(|g| ctx.filename.is_some_and(|f| glob(g, f)))
        && m.provider.is_none_or(|p| ctx.provider == Some(p))
}

/// Whether the `seen`th matching request is hit, `fired` having fired before.
pub fn due(when: &When, seen: u64, fired: u64, times: Option<u64>, rng: &mut u64) -> bool {
    if times.is_some_and(|t| fired >= t) {
        return false;
    }
    match *when {
        When::Always => true,
        When::Next(n) => fired < n,
        When::Every(k) => seen.is_multiple_of(k),
        When::After(n) => seen > n,
        When::Probability { p, .. } => (next_random(rng) as f64 / u64::MAX as f64) < p,
    }
}

/// splitmix64: a fixed sequence per seed, whatever the platform or crate versions.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `*` any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arm(faults: &Faults, v: serde_json::Value) -> u64 {
        faults.arm(FaultSpec::parse(&v).unwrap()).id
    }

    fn fires(f: &Faults, route: Route, ctx: MatchCtx<'_>) -> Option<u64> {
        f.pick(route, ctx, false).map(|x| x.id)
    }

    #[test]
    fn when_rules() {
        let mut rng = 0;
        let fired = |when: When, times: Option<u64>| -> Vec<bool> {
            let mut rng = 42;
            let mut count = 0;
            (1..=6)
                .map(|seen| {
                    let d = due(&when, seen, count, times, &mut rng);
                    if d {
                        count += 1;
                    }
                    d
                })
                .collect()
        };
        assert_eq!(
            fired(When::Next(2), None),
            [true, true, false, false, false, false]
        );
        assert_eq!(
            fired(When::Every(3), None),
            [false, false, true, false, false, true]
        );
        assert_eq!(
            fired(When::After(4), None),
            [false, false, false, false, true, true]
        );
        assert_eq!(
            fired(When::Always, Some(1)),
            [true, false, false, false, false, false]
        );
        // A seed gives the same draws every time; p = 0 and 1 are never and always.
        let p = fired(When::Probability { p: 0.5, seed: 42 }, None);
        assert_eq!(p, fired(When::Probability { p: 0.5, seed: 42 }, None));
        assert!(p.contains(&true) && p.contains(&false), "{p:?}");
        assert!(!due(
            &When::Probability { p: 0.0, seed: 1 },
            1,
            0,
            None,
            &mut rng
        ));
    }

    #[test]
    fn matching_and_order() {
        let f = Faults::default();
        assert_eq!(fires(&f, Route::Upload, MatchCtx::default()), None);
        let a = arm(
            &f,
            json!({"route": "simple-project", "status": 503, "match": {"project": "Demo"}}),
        );
        let b = arm(
            &f,
            json!({"route": "simple-project", "status": 500, "when": {"next": 1}}),
        );
        let demo = MatchCtx {
            project: Some("demo"),
            ..Default::default()
        };
        let other = MatchCtx {
            project: Some("other"),
            ..Default::default()
        };
        assert_eq!(fires(&f, Route::SimpleProject, demo), Some(a));
        assert_eq!(fires(&f, Route::SimpleProject, other), Some(b));
        assert_eq!(
            fires(&f, Route::SimpleProject, other),
            None,
            "next 1 is spent"
        );
        assert_eq!(fires(&f, Route::JsonApi, demo), None, "another route");
        let c = arm(
            &f,
            json!({"route": "file", "status": 404, "match": {"filename": "*.whl"}}),
        );
        assert_eq!(
            fires(
                &f,
                Route::File,
                MatchCtx {
                    filename: Some("a-1.0-py3-none-any.whl"),
                    ..Default::default()
                }
            ),
            Some(c)
        );
        assert_eq!(
            fires(
                &f,
                Route::File,
                MatchCtx {
                    filename: Some("a-1.0.tar.gz"),
                    ..Default::default()
                }
            ),
            None
        );
        // Upload faults that need the form fire in the handler, not the layer.
        let d = arm(
            &f,
            json!({"route": "upload", "status": 409, "match": {"project": "demo"}}),
        );
        assert_eq!(fires(&f, Route::Upload, demo), None);
        assert_eq!(f.pick(Route::Upload, demo, true).map(|x| x.id), Some(d));
        assert!(f.remove(a));
        assert!(!f.remove(a));
        f.clear();
        assert!(f.list().is_empty());
    }

    #[test]
    fn globs() {
        assert!(glob("*.whl", "x-1.0-py3-none-any.whl"));
        assert!(glob("demo-?.0*", "demo-1.0.tar.gz"));
        assert!(!glob("*.whl", "x.tar.gz"));
        assert!(glob("*", ""));
    }
}
