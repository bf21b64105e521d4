//! Date parsing for the formats inputs use: RFC 2822 (`versions[].created`) and ISO `YYYY-MM-DD`.

const MONTHS: [&str; 12] =
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/// `"Fri, 11 Nov 2016 00:00:00 GMT"` → `"2016-11-11"` (the weekday is optional, as in RFC 2822).
pub(crate) fn rfc2822_date(s: &str) -> Option<String> {
    let s = s.split_once(',').map_or(s, |(_, rest)| rest);
    let mut parts = s.split_whitespace();
    let day: u32 = parts.next()?.parse().ok()?;
    let month = parts.next()?.get(..3)?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let year = parts.next()?;
    if !(1..=31).contains(&day) || year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{year}-{month:02}-{day:02}"))
}

/// Accepts `YYYY-MM-DD` (optionally followed by a time) and returns the date part.
pub(crate) fn iso_date(s: &str) -> Option<String> {
    let d = s.trim().get(..10)?;
    let b = d.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)) {
        return None;
    }
    let (month, day): (u32, u32) = (d[5..7].parse().ok()?, d[8..10].parse().ok()?);
    ((1..=12).contains(&month) && (1..=31).contains(&day)).then(|| d.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_rfc2822_dates() {
        assert_eq!(rfc2822_date("Fri, 11 Nov 2016 00:00:00 GMT").as_deref(), Some("2016-11-11"));
        assert_eq!(rfc2822_date("Mon, 2 Apr 2007 19:18:42 GMT").as_deref(), Some("2007-04-02"));
        assert_eq!(rfc2822_date("2 April 2007").as_deref(), Some("2007-04-02"));
        assert_eq!(rfc2822_date("Fri, 41 Nov 2016"), None);
        assert_eq!(rfc2822_date("garbage"), None);
        assert_eq!(iso_date("2016-11-11T00:00:00Z").as_deref(), Some("2016-11-11"));
        assert_eq!(iso_date("2016/11/11"), None);
        assert_eq!(iso_date("2016-13-01"), None);
        assert_eq!(iso_date("2016-02-00"), None);
        assert_eq!(iso_date("2016"), None);
    }
}
