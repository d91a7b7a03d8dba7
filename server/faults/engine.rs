//! Armed faults and when they fire: each keeps how many matching requests it has seen
//! and how often it fired; the first armed fault that matches and is due fires. Also
//! counts requests per route (a report card reads retries from it), and keeps the
//! files a fired `stale_seconds` fault hides from the simple pages. The database holds
//! the armed faults for every replica (`fault_state`); this is one process's view.

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

/// This process's view of the armed faults and hidden files (the database holds them,
/// shared by replicas; see `fault_state`), the cheap "anything armed?" check, and the
/// requests counted per route (per process).
#[derive(Default)]
pub struct Faults {
    armed: RwLock<Vec<Armed>>,
    /// A cheap check for the common case: nothing armed.
    any: AtomicBool,
    /// The store's fault counter this view was loaded at (0: never).
    loaded: AtomicU64,
    requests: [AtomicU64; Route::ALL.len()],
    /// Files kept off the simple pages: (normalized project, filename, until).
    stale: Mutex<Vec<(String, String, i64)>>,
}

/// A route's counter: `Route::ALL` lists the routes in declaration order (a test
/// holds it to that), so the discriminant is the index.
fn index(route: Route) -> usize {
    route as usize
}

impl Armed {
    /// A stored fault: its definition parsed again, its counters as stored.
    pub fn new(id: u64, spec: FaultSpec, seen: u64, fired: u64, armed_at: i64) -> Self {
        Self {
            id,
            spec,
            seen,
            fired,
            armed_at,
        }
    }

    /// This fault, fired on `route`.
    pub fn fired(&self, route: Route) -> Fired {
        Fired {
            id: self.id,
            route,
            action: self.spec.action.clone(),
            scenario: self.spec.scenario.clone(),
        }
    }
}

/// The random state a fault starts with: its seed, for `probability` faults.
pub fn initial_rng(spec: &FaultSpec) -> u64 {
    match spec.when {
        When::Probability { seed, .. } => seed,
        _ => 0,
    }
}

impl Faults {
    /// Take a fresh view: the armed faults in arming order, the hidden files, and the
    /// store's fault counter they were read at (`None`: not cacheable, read again next
    /// time).
    pub fn replace(&self, armed: Vec<Armed>, hidden: Vec<(String, String, i64)>, at: Option<u64>) {
        let mut list = self.armed.write().unwrap_or_else(|p| p.into_inner());
        self.any.store(!armed.is_empty(), Ordering::Release);
        *list = armed;
        *self.stale.lock().unwrap_or_else(|p| p.into_inner()) = hidden;
        self.loaded.store(at.unwrap_or(0), Ordering::Release);
    }

    /// Whether this view is the one the store's fault counter `at` describes.
    pub fn is_current(&self, at: Option<u64>) -> bool {
        at.is_some_and(|g| g == self.loaded.load(Ordering::Acquire))
    }

    /// The armed faults as last loaded (their counters as they were then).
    pub fn list(&self) -> Vec<Armed> {
        self.armed.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Zero the request counters.
    pub fn clear_requests(&self) {
        for c in &self.requests {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// The files of `project` hidden now.
    pub fn hidden(&self, project: &str) -> Vec<String> {
        let now = crate::util::now();
        let list = self.stale.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .filter(|(p, _, until)| p == project && *until > now)
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

    /// The armed faults for `route` that match `ctx`, in arming order: the layer's
    /// (`in_handler` false) or the upload's own, once it knows the project and file.
    /// Whether one is due is the shared counters' business (`due`).
    pub fn candidates(&self, route: Route, ctx: MatchCtx<'_>, in_handler: bool) -> Vec<Armed> {
        if !self.armed() {
            return Vec::new();
        }
        let list = self.armed.read().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .filter(|a| {
                a.spec.route == route
                    && a.spec.fires_in_handler() == in_handler
                    && matches(&a.spec, ctx)
            })
            .cloned()
            .collect()
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

    /// A view holding these definitions, ids 1, 2, … in order.
    fn view(definitions: &[serde_json::Value]) -> Faults {
        let f = Faults::default();
        let armed = definitions
            .iter()
            .enumerate()
            .map(|(i, v)| Armed::new(i as u64 + 1, FaultSpec::parse(v).unwrap(), 0, 0, 0))
            .collect();
        f.replace(armed, Vec::new(), Some(7));
        f
    }

    fn first(f: &Faults, route: Route, ctx: MatchCtx<'_>, in_handler: bool) -> Option<u64> {
        f.candidates(route, ctx, in_handler).first().map(|a| a.id)
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
        assert!(
            Faults::default()
                .candidates(Route::Upload, MatchCtx::default(), false)
                .is_empty()
        );
        let f = view(&[
            json!({"route": "simple-project", "status": 503, "match": {"project": "Demo"}}),
            json!({"route": "simple-project", "status": 500, "when": {"next": 1}}),
            json!({"route": "file", "status": 404, "match": {"filename": "*.whl"}}),
            json!({"route": "upload", "status": 409, "match": {"project": "demo"}}),
        ]);
        assert!(f.is_current(Some(7)) && !f.is_current(Some(8)) && !f.is_current(None));
        let demo = MatchCtx {
            project: Some("demo"),
            ..Default::default()
        };
        let other = MatchCtx {
            project: Some("other"),
            ..Default::default()
        };
        // Both match the demo project's page, the first armed first.
        let ids: Vec<u64> = f
            .candidates(Route::SimpleProject, demo, false)
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, [1, 2]);
        assert_eq!(first(&f, Route::SimpleProject, other, false), Some(2));
        assert_eq!(
            first(&f, Route::JsonApi, demo, false),
            None,
            "another route"
        );
        let wheel = MatchCtx {
            filename: Some("a-1.0-py3-none-any.whl"),
            ..Default::default()
        };
        let sdist = MatchCtx {
            filename: Some("a-1.0.tar.gz"),
            ..Default::default()
        };
        assert_eq!(first(&f, Route::File, wheel, false), Some(3));
        assert_eq!(first(&f, Route::File, sdist, false), None);
        // Upload faults that need the form fire in the handler, not the layer.
        assert_eq!(first(&f, Route::Upload, demo, false), None);
        assert_eq!(first(&f, Route::Upload, demo, true), Some(4));
        f.replace(Vec::new(), Vec::new(), Some(8));
        assert!(!f.armed() && f.list().is_empty());
    }

    /// Stored definitions are parsed again: every scenario's faults survive the trip.
    #[test]
    fn definitions_round_trip() {
        for scenario in crate::faults::scenarios::all() {
            for definition in &scenario.faults {
                let spec = FaultSpec::parse(definition).unwrap();
                let stored = serde_json::to_value(&spec).unwrap();
                assert_eq!(FaultSpec::parse(&stored).unwrap(), spec, "{stored}");
            }
        }
    }

    #[test]
    fn globs() {
        assert!(glob("*.whl", "x-1.0-py3-none-any.whl"));
        assert!(glob("demo-?.0*", "demo-1.0.tar.gz"));
        assert!(!glob("*.whl", "x.tar.gz"));
        assert!(glob("*", ""));
    }
}
