//! Which exposition format a scraper gets. Metrics are encoded as OpenMetrics (what the
//! prometheus-client crate writes); a client that does not ask for OpenMetrics in its
//! `Accept` header (promtool, older Prometheus servers, curl, most agents) gets the classic
//! Prometheus text format 0.0.4, converted line by line.

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// True when `accept` lists OpenMetrics with a non-zero quality (Prometheus sends it first).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| {
        a.split(',').any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let is_om = parts.next() == Some("application/openmetrics-text");
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            is_om && q > 0.0
        })
    })
}

/// OpenMetrics text to the Prometheus 0.0.4 text format: counters are typed under their
/// `_total` sample name, info families become gauges named `_info`, `_created` samples,
/// `# UNIT` lines and `# EOF` go, `unknown` is `untyped`.
pub fn to_text_004(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // Family name -> what its samples are called in 0.0.4.
    let mut renamed: Option<(String, String, &str)> = None;
    let mut pending_help: Option<(String, String)> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            // The type (and so the name) is known only at the TYPE line that follows.
            pending_help = Some((name.to_string(), text.to_string()));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (sample_name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "unknown" => (name.to_string(), "untyped"),
                "stateset" => (name.to_string(), "gauge"),
                "gaugehistogram" => (name.to_string(), "histogram"),
                other => (name.to_string(), other),
            };
            if let Some((help_name, text)) = pending_help.take() {
                if help_name == name {
                    out.push_str(&format!("# HELP {sample_name} {text}\n"));
                }
            }
            out.push_str(&format!("# TYPE {sample_name} {kind}\n"));
            renamed = Some((name.to_string(), sample_name, kind));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let series = line.split([' ', '{']).next().unwrap_or("");
        if let Some((family, _, kind)) = &renamed {
            // A counter's creation time has no place in 0.0.4.
            if *kind == "counter" && series == format!("{family}_created") {
                continue;
            }
        }
        // Exemplars (` # {...} value`) are OpenMetrics only.
        let sample = match line.find(" # ") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_and_promtool_accept_headers() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
    }

    #[test]
    fn openmetrics_becomes_the_004_text_format() {
        let om = "# HELP requests Requests served.\n# TYPE requests counter\n\
                  requests_total{path=\"/\"} 3\nrequests_created{path=\"/\"} 1.7e9\n\
                  # HELP temp Temperature.\n# TYPE temp gauge\n# UNIT temp celsius\ntemp 21.5\n\
                  # HELP build Build.\n# TYPE build info\nbuild_info{version=\"1\"} 1\n\
                  # TYPE odd unknown\nodd 1 # {trace=\"x\"} 1\n# EOF\n";
        assert_eq!(
            to_text_004(om),
            "# HELP requests_total Requests served.\n# TYPE requests_total counter\n\
             requests_total{path=\"/\"} 3\n\
             # HELP temp Temperature.\n# TYPE temp gauge\ntemp 21.5\n\
             # HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{version=\"1\"} 1\n\
             # TYPE odd untyped\nodd 1\n"
        );
    }
}
