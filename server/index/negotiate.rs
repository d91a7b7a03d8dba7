//! Content negotiation for the simple API, PyPI's way: offers in order text/html,
//! the v1 HTML type, the v1 JSON type; best `q` wins; no match means text/html
//! (PyPI never answers 406).

pub const HTML: &str = "text/html";
pub const V1_HTML: &str = "application/vnd.pypi.simple.v1+html";
pub const V1_JSON: &str = "application/vnd.pypi.simple.v1+json";
const OFFERS: [&str; 3] = [HTML, V1_HTML, V1_JSON];

fn matches(range: &str, offer: &str) -> bool {
    if range == "*/*" || range.eq_ignore_ascii_case(offer) {
        return true;
    }
    match (range.split_once('/'), offer.split_once('/')) {
        (Some((rt, "*")), Some((ot, _))) => rt.eq_ignore_ascii_case(ot),
        _ => false,
    }
}

pub const INTEGRITY_V1: &str = "application/vnd.pypi.integrity.v1+json";

/// The media type to answer with for this `Accept` header.
pub fn choose(accept: Option<&str>) -> &'static str {
    match accept {
        Some(accept) => best(accept, &OFFERS).unwrap_or(HTML),
        None => HTML,
    }
}

/// The Integrity API's type: its own by default, `application/json` if asked; `None`
/// (406) when the header allows neither.
pub fn integrity(accept: Option<&str>) -> Option<&'static str> {
    match accept {
        Some(accept) => best(accept, &[INTEGRITY_V1, "application/json"]),
        None => Some(INTEGRITY_V1),
    }
}

/// The offer the header rates best, first offer first on a tie.
fn best(accept: &str, offers: &[&'static str]) -> Option<&'static str> {
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let range = pieces.next()?.trim().to_owned();
            if range.is_empty() {
                return None;
            }
            let q = pieces
                .filter_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .or_else(|| p.trim().strip_prefix("Q="))
                })
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((range, q))
        })
        .collect();
    let mut best: Option<(&'static str, f32)> = None;
    for &offer in offers {
        // The most specific matching range decides an offer's quality.
        let quality = ranges
            .iter()
            .filter(|(r, _)| matches(r, offer))
            .max_by_key(|(r, _)| {
                if r == "*/*" {
                    0
                } else if r.ends_with("/*") {
                    1
                } else {
                    2
                }
            })
            .map(|(_, q)| *q);
        if let Some(q) = quality
            && q > 0.0
            && best.is_none_or(|(_, bq)| q > bq)
        {
            best = Some((offer, q));
        }
    }
    best.map(|(o, _)| o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_and_uv_get_json_browsers_get_html() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(choose(Some(pip)), V1_JSON);
        let uv = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";
        assert_eq!(choose(Some(uv)), V1_JSON);
        assert_eq!(
            choose(Some("text/html,application/xhtml+xml,*/*;q=0.8")),
            HTML
        );
        assert_eq!(choose(None), HTML);
        assert_eq!(choose(Some("application/json")), HTML);
        assert_eq!(choose(Some("application/vnd.pypi.simple.v1+html")), V1_HTML);
        assert_eq!(choose(Some("*/*")), HTML);
        assert_eq!(
            choose(Some(
                "text/html;q=0, application/vnd.pypi.simple.v1+json;q=0.5"
            )),
            V1_JSON
        );
    }

    #[test]
    fn the_integrity_api_answers_its_type_or_json_or_406() {
        assert_eq!(integrity(None), Some(INTEGRITY_V1));
        assert_eq!(integrity(Some("*/*")), Some(INTEGRITY_V1));
        assert_eq!(
            integrity(Some("application/json")),
            Some("application/json")
        );
        assert_eq!(integrity(Some("text/html")), None);
    }
}
