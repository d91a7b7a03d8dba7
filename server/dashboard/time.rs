//! Times as people read them: "1 Dec 2026, 13:05:22 UTC" and "3 min ago" (the pages
//! have no JavaScript, so the zone is named rather than guessed).

use time::OffsetDateTime;
use time::macros::format_description;

/// One moment, in the three forms a page needs.
#[derive(Clone, Debug)]
pub struct When {
    /// For `<time datetime>`: RFC 3339.
    pub iso: String,
    /// "1 Dec 2026, 13:05:22 UTC".
    pub text: String,
    /// "3 min ago", "in 12 min", "just now".
    pub ago: String,
}

impl When {
    pub fn at(unix: i64, now: i64) -> Self {
        let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Self {
            iso: t
                .format(&format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
                ))
                .unwrap_or_default(),
            text: t
                .format(&format_description!(
                    "[day padding:none] [month repr:short] [year], [hour]:[minute]:[second] UTC"
                ))
                .unwrap_or_default(),
            ago: relative(unix - now),
        }
    }
}

/// `delta` seconds from now, in words.
fn relative(delta: i64) -> String {
    let span = delta.unsigned_abs();
    let amount = match span {
        0..=4 => return "just now".to_owned(),
        5..=59 => format!("{span} s"),
        60..=3_599 => format!("{} min", span / 60),
        3_600..=86_399 => format!("{} h", span / 3_600),
        _ => {
            let days = span / 86_400;
            format!("{days} day{}", if days == 1 { "" } else { "s" })
        }
    };
    if delta < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_like_a_person_wrote_them() {
        let w = When::at(1_796_131_902, 1_796_131_902 + 185);
        assert_eq!(w.text, "1 Dec 2026, 13:31:42 UTC");
        assert_eq!(w.iso, "2026-12-01T13:31:42Z");
        assert_eq!(w.ago, "3 min ago");
        assert_eq!(relative(0), "just now");
        assert_eq!(relative(-42), "42 s ago");
        assert_eq!(relative(900), "in 15 min");
        assert_eq!(relative(-7_300), "2 h ago");
        assert_eq!(relative(-86_400), "1 day ago");
        assert_eq!(relative(-3 * 86_400), "3 days ago");
    }
}
