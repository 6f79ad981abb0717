//! The exposition formats. A scraper that asks for OpenMetrics in its `Accept` header
//! (Prometheus) gets it; any other client (promtool, older Prometheus servers, curl, most
//! agents) gets the classic Prometheus text format 0.0.4.
//!
//! Two writers make the same text: the controller series are encoded by prometheus-client,
//! which writes OpenMetrics, converted line by line for 0.0.4 ([`to_text_004`]); the
//! per-container series, 99 % of a scrape, are written straight in the format asked for by
//! [`Writer`], byte for byte as that encoding and conversion would write them (the golden
//! tests in metrics/tests.rs hold the two together). Encoding them through the crate and
//! converting afterwards cost ~2 ms of a 100-container scrape: a label set cloned per series,
//! and a second pass over ~700 KB.

use std::fmt::Write as _;

pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const TEXT_004: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The format of one scrape's exposition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    Text004,
}

impl Format {
    /// The format a scraper's `Accept` header asks for.
    pub fn for_accept(accept: Option<&str>) -> Format {
        if wants_openmetrics(accept) {
            Format::OpenMetrics
        } else {
            Format::Text004
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::Text004 => TEXT_004,
        }
    }
}

/// A family's type; a counter's samples end in `_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A sample's value, written as prometheus-client writes it: floats by dtoa (`1.0`, `9.99e-7`),
/// integers by itoa.
pub trait Value {
    fn write(&self, out: &mut String);
}

impl Value for f64 {
    fn write(&self, out: &mut String) {
        out.push_str(dtoa::Buffer::new().format(*self));
    }
}

impl Value for u64 {
    fn write(&self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(*self));
    }
}

impl Value for i64 {
    fn write(&self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(*self));
    }
}

/// Appends `key="value"` to a label list, with a comma if the list has labels already.
pub fn push_label(list: &mut String, key: &str, value: &str) {
    if !list.is_empty() {
        list.push(',');
    }
    write_label(list, key, value);
}

/// `key="value"`, the value escaped as both formats want (backslash, double quote, newline).
fn write_label(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str("=\"");
    if value.contains(['\\', '"', '\n']) {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
    } else {
        out.push_str(value);
    }
    out.push('"');
}

/// Writes families and their samples into an exposition, in one format.
pub struct Writer<'a> {
    out: &'a mut String,
    format: Format,
    /// The current family's sample name (`name`, or `name_total` for a counter).
    sample: String,
}

impl<'a> Writer<'a> {
    pub fn new(out: &'a mut String, format: Format) -> Writer<'a> {
        Writer {
            out,
            format,
            sample: String::new(),
        }
    }

    /// Starts a family: its HELP and TYPE lines. OpenMetrics names a counter family without
    /// `_total`, 0.0.4 by its samples' name; `help` gets the period prometheus-client ends
    /// every HELP with.
    pub fn family(&mut self, name: &str, help: &str, kind: Kind) {
        self.sample.clear();
        self.sample.push_str(name);
        if kind == Kind::Counter {
            self.sample.push_str("_total");
        }
        let family = match self.format {
            Format::OpenMetrics => name,
            Format::Text004 => &self.sample,
        };
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        // Writing to a String cannot fail.
        let _ = write!(
            self.out,
            "# HELP {family} {help}.\n# TYPE {family} {kind}\n"
        );
    }

    /// One sample of the current family: `labels` is a label list made by [`push_label`],
    /// `extra` one more label after it (a series' interface, state, ...).
    pub fn sample(&mut self, labels: &str, extra: Option<(&str, &str)>, value: impl Value) {
        let out = &mut *self.out;
        out.push_str(&self.sample);
        if !labels.is_empty() || extra.is_some() {
            out.push('{');
            out.push_str(labels);
            if let Some((key, v)) = extra {
                if !labels.is_empty() {
                    out.push(',');
                }
                write_label(out, key, v);
            }
            out.push('}');
        }
        out.push(' ');
        value.write(out);
        out.push('\n');
    }
}

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

    #[test]
    fn writer_names_counters_per_format_and_escapes_label_values() {
        let mut labels = String::new();
        push_label(&mut labels, "name", "a\"b\\c\nd");
        push_label(&mut labels, "image", "bb:local");
        assert_eq!(labels, r#"name="a\"b\\c\nd",image="bb:local""#);
        let write = |format| {
            let mut out = String::new();
            let mut w = Writer::new(&mut out, format);
            w.family("requests", "Requests served", Kind::Counter);
            w.sample(&labels, Some(("interface", "eth0")), 3u64);
            w.sample("", None, 0.5);
            w.family("temp", "Temperature", Kind::Gauge);
            w.sample("", Some(("room", "1")), -2i64);
            out
        };
        let samples =
            "requests_total{name=\"a\\\"b\\\\c\\nd\",image=\"bb:local\",interface=\"eth0\"} 3\n\
                       requests_total 0.5\n";
        assert_eq!(
            write(Format::OpenMetrics),
            format!(
                "# HELP requests Requests served.\n# TYPE requests counter\n{samples}\
                 # HELP temp Temperature.\n# TYPE temp gauge\ntemp{{room=\"1\"}} -2\n"
            )
        );
        assert_eq!(
            write(Format::Text004),
            format!(
                "# HELP requests_total Requests served.\n# TYPE requests_total counter\n{samples}\
                 # HELP temp Temperature.\n# TYPE temp gauge\ntemp{{room=\"1\"}} -2\n"
            )
        );
        assert_eq!(Format::for_accept(None), Format::Text004);
        assert_eq!(Format::Text004.content_type(), TEXT_004);
    }
}
