//! Which part of a container's log a command wants: `--tail`, and `--since`/`--until` read
//! as the docker CLI reads them (a Go duration before now, an RFC 3339 time, a date, a Unix
//! time), sent to the daemon as Docker's API takes them: Unix seconds with nanoseconds.

use crate::client::q;

/// Which part of the logs a command wants: `tail`, and Docker's `since`/`until` query
/// values (see [`docker_timestamp`]).
#[derive(Debug, Clone, Default)]
pub struct LogWindow {
    pub tail: String,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl LogWindow {
    /// Reads `--since`/`--until` as of now; an unreadable value is named as the docker CLI
    /// names it: `invalid value for "since": ...`.
    pub fn new(tail: &str, since: Option<&str>, until: Option<&str>) -> anyhow::Result<Self> {
        let now = chrono::Local::now();
        let read = |flag: &str, v: Option<&str>| {
            v.map(|v| {
                docker_timestamp(v, now)
                    .map_err(|e| anyhow::anyhow!("invalid value for {flag:?}: {e}"))
            })
            .transpose()
        };
        Ok(LogWindow {
            tail: tail.to_string(),
            since: read("since", since)?,
            until: read("until", until)?,
        })
    }

    pub fn query(&self, follow: bool) -> String {
        format!(
            "follow={}&tail={}{}",
            follow as u8,
            q(&self.tail),
            self.range()
        )
    }

    /// `&since=...&until=...`, of those given (`events` takes them too).
    pub fn range(&self) -> String {
        let mut query = String::new();
        for (k, v) in [("since", &self.since), ("until", &self.until)] {
            if let Some(v) = v {
                query.push_str(&format!("&{k}={}", q(v)));
            }
        }
        query
    }
}

/// The docker CLI's `GetTimestamp` (api/types/time/timestamp.go): a Go duration (`10m`,
/// `1h30m`, `-1h`) is that long before now, in whole seconds; a time with a zone (`Z`, `+`,
/// or a `-HH:MM` offset) or without one (taken in local time) becomes
/// `SECONDS.NANOSECONDS`; anything else must be a Unix time, which passes as it is.
pub fn docker_timestamp(
    value: &str,
    now: chrono::DateTime<chrono::Local>,
) -> anyhow::Result<String> {
    if value != "0" {
        if let Some(d) = go_duration(value) {
            let nanos = now.timestamp_nanos_opt().unwrap_or(0) as i128 - d;
            return Ok(nanos.div_euclid(1_000_000_000).to_string());
        }
    }
    match parse_time(value, now) {
        Some(t) => Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        )),
        // With a `-` it was meant as a date: Go reports the parser's error.
        None if value.contains('-') => {
            anyhow::bail!(
                "parsing time {value:?}: not a date and time as 2006-01-02T15:04:05Z07:00"
            )
        }
        None => {
            let (secs, frac) = value.split_once('.').unwrap_or((value, "0"));
            anyhow::ensure!(
                secs.parse::<i64>().is_ok() && frac.parse::<u64>().is_ok(),
                "failed to parse value as time or duration: {value:?}"
            );
            Ok(value.to_string())
        }
    }
}

/// The layouts GetTimestamp picks from: with a `.`, RFC 3339 with fractions; with a `T`, as
/// many clock fields as it has colons; else a date. Without a zone, local time.
fn parse_time(
    value: &str,
    now: chrono::DateTime<chrono::Local>,
) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
    let in_local = !value.contains(['z', 'Z', '+']) && value.matches('-').count() != 3;
    // chrono spells the zone `Z` as `+00:00`; a date with a zone is midnight there.
    let (body, zone) = if in_local {
        (value, None)
    } else if let Some(b) = value.strip_suffix(['z', 'Z']) {
        (b, Some("+00:00".to_string()))
    } else {
        let at = value.rfind(['+', '-']).filter(|&i| i >= 10)?;
        (&value[..at], Some(value[at..].to_string()))
    };
    let naive = if body.contains('T') {
        // `2006-01-02T15` has no minutes, which chrono needs.
        let padded = match body.matches(':').count() {
            0 => format!("{body}:00:00"),
            1 => format!("{body}:00"),
            _ => body.to_string(),
        };
        NaiveDateTime::parse_from_str(&padded, "%Y-%m-%dT%H:%M:%S%.f").ok()?
    } else {
        NaiveDate::parse_from_str(body, "%Y-%m-%d")
            .ok()?
            .and_hms_opt(0, 0, 0)?
    };
    match zone {
        None => now
            .offset()
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.fixed_offset()),
        Some(z) => {
            DateTime::parse_from_rfc3339(&format!("{}{z}", naive.format("%Y-%m-%dT%H:%M:%S%.f")))
                .ok()
        }
    }
}

/// Go's `time.ParseDuration` in nanoseconds: `[-]` then numbers with units ns, us, µs, ms,
/// s, m, h (`1h30m`, `1.5h`, `300ms`).
fn go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * scale;
        rest = &rest[u..];
    }
    let total = total.round() as i128;
    Some(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_as_docker_reads_them() {
        use chrono::TimeZone;
        let now = chrono::Local.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(docker_timestamp("10m", now).unwrap(), "1699999400");
        assert_eq!(docker_timestamp("1h30m", now).unwrap(), "1699994600");
        assert_eq!(docker_timestamp("1700000000", now).unwrap(), "1700000000");
        assert_eq!(
            docker_timestamp("1700000000.5", now).unwrap(),
            "1700000000.5"
        );
        assert_eq!(
            docker_timestamp("2023-11-14T22:13:20Z", now).unwrap(),
            "1700000000.000000000"
        );
        assert_eq!(
            docker_timestamp("2023-11-14T23:13:20.25+01:00", now).unwrap(),
            "1700000000.250000000"
        );
        assert_eq!(
            docker_timestamp("2023-11-14Z", now).unwrap(),
            "1699920000.000000000"
        );
        assert_eq!(
            docker_timestamp("2023-11-14T21:13:20-01:00", now).unwrap(),
            "1700000000.000000000"
        );
        // Negative durations are after now; fractions of the reference count.
        assert_eq!(docker_timestamp("-1h", now).unwrap(), "1700003600");
        let later = chrono::Local
            .timestamp_opt(1_700_000_000, 700_000_000)
            .unwrap();
        assert_eq!(docker_timestamp("1.5s", later).unwrap(), "1699999999");
        // No zone: local time, to the hour or minute.
        let local = |y, mo, d, h, mi| {
            let t = chrono::Local.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
            format!("{}.000000000", t.timestamp())
        };
        assert_eq!(
            docker_timestamp("2023-11-14T22", now).unwrap(),
            local(2023, 11, 14, 22, 0)
        );
        assert_eq!(
            docker_timestamp("2023-11-14T22:13", now).unwrap(),
            local(2023, 11, 14, 22, 13)
        );
        assert_eq!(
            docker_timestamp("2023-11-14", now).unwrap(),
            local(2023, 11, 14, 0, 0)
        );
        assert!(docker_timestamp("yesterday", now)
            .unwrap_err()
            .to_string()
            .contains("failed to parse value as time or duration: \"yesterday\""));
        assert!(docker_timestamp("10", now).is_ok());
        assert!(docker_timestamp("2023-13-45T00:00:00Z", now).is_err());
    }
}
