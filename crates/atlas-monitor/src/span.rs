//! [`Span`]: the length of a live drift window (`15m`, `1h`, `7d`), as `serve --drift-window` and
//! `GET /v1/drift?window=` name it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::MonitorError;

/// Longest window accepted: a year. Longer ones are almost certainly a typo (`1000d`), and a window reaching
/// before the log began is the same as the whole log anyway.
const MAX_SECONDS: u64 = 366 * 24 * 3600;

/// The length of a window of the request log that ends now: a whole number of seconds, written with one unit
/// (`s`, `m`, `h`, `d`). Displayed in the largest unit that divides it, so `60m` and `1h` are the same window
/// and print alike (the label of its Prometheus gauges and of `/v1/drift`'s answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    seconds: u64,
}

impl Span {
    /// A span of `seconds` (at least 1, at most a year).
    pub fn from_secs(seconds: u64) -> Result<Span, MonitorError> {
        if seconds == 0 || seconds > MAX_SECONDS {
            return Err(MonitorError::BadSpan {
                value: format!("{seconds}s"),
                why: "a window lasts from 1 second to 366 days",
            });
        }
        Ok(Span { seconds })
    }

    /// The span as a duration.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.seconds)
    }

    /// The span in seconds.
    pub fn as_secs(self) -> u64 {
        self.seconds
    }
}

impl FromStr for Span {
    type Err = MonitorError;

    fn from_str(value: &str) -> Result<Span, MonitorError> {
        let v = value.trim();
        let bad = |why| MonitorError::BadSpan { value: value.to_string(), why };
        let split = v.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| bad("give a unit: s, m, h or d"))?;
        let (number, unit) = v.split_at(split);
        let n: u64 = number.parse().map_err(|_| bad("start with a whole number, e.g. 15m, 1h, 7d"))?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad("the unit is one of s, m, h, d")),
        };
        let seconds = n.checked_mul(scale).ok_or_else(|| bad("a window lasts from 1 second to 366 days"))?;
        Span::from_secs(seconds).map_err(|_| bad("a window lasts from 1 second to 366 days"))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.seconds;
        match [(86_400, 'd'), (3600, 'h'), (60, 'm')].into_iter().find(|(unit, _)| s % unit == 0) {
            Some((unit, c)) => write!(f, "{}{c}", s / unit),
            None => write!(f, "{s}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print_in_their_largest_unit() {
        let p = |v: &str| v.parse::<Span>().map(|s| (s.as_secs(), s.to_string()));
        assert_eq!(p("15m").unwrap(), (900, "15m".to_string()));
        assert_eq!(p("60m").unwrap(), (3600, "1h".to_string()));
        assert_eq!(p("48h").unwrap(), (172_800, "2d".to_string()));
        assert_eq!(p("90s").unwrap(), (90, "90s".to_string()));
        assert_eq!(p(" 7d ").unwrap(), (604_800, "7d".to_string()));
        for bad in ["", "h", "1", "0m", "1w", "-1h", "1.5h", "400d", "99999999999999999999d"] {
            let err = p(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }
}
