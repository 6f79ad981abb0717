//! `--format`, as Docker's CLI formatter reads it: `table` (the command's default columns),
//! `table TEMPLATE` (a header row made from the fields' headers, columns aligned by Go's
//! tabwriter), `json` (`{{json .}}` per item) or a bare Go template, with `\t` and `\n`
//! written as two characters taken as tab and newline. The template language lives in
//! [`template`]; the values each command hands it (Docker's "contexts") are built by the
//! commands from the daemon's answers.

pub mod template;
pub mod units;

pub use template::{go_quote, Struct, Template, Value};

use std::collections::BTreeMap;
use std::rc::Rc;

/// A parsed `--format`.
pub struct Formatter {
    table: bool,
    tmpl: Template,
}

/// A template that failed, worded as Docker's formatter words it, with exit code 1.
pub fn template_error(e: template::Error) -> anyhow::Error {
    anyhow::anyhow!("template parsing error: {e}")
}

impl Formatter {
    /// `format` as given (None: the default table); `default_table` the command's columns,
    /// e.g. `table {{.ID}}\t{{.Names}}`.
    pub fn new(format: Option<&str>, default_table: &str) -> anyhow::Result<Formatter> {
        let f = match format.unwrap_or("") {
            "" | "table" => default_table,
            "json" => "{{json .}}",
            other => other,
        };
        let table = f.starts_with("table");
        let body = if table { &f["table".len()..] } else { f };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let tmpl = Template::parse(&body).map_err(template_error)?;
        Ok(Formatter { table, tmpl })
    }

    /// The output for `items`; `header` maps each field to its column title.
    pub fn render(&self, items: &[Value], header: &Value) -> anyhow::Result<String> {
        let mut body = String::new();
        for it in items {
            body.push_str(&self.tmpl.execute(it).map_err(template_error)?);
            body.push('\n');
        }
        if !self.table {
            return Ok(body);
        }
        let head = self
            .tmpl
            .execute_mode(header, template::Mode::Header)
            .map_err(template_error)?;
        Ok(tabwrite(&format!("{head}\n{body}")))
    }

    /// Prints [`Formatter::render`] to stdout.
    pub fn print(&self, items: &[Value], header: &Value) -> anyhow::Result<()> {
        use std::io::Write;
        let out = self.render(items, header)?;
        std::io::stdout().lock().write_all(out.as_bytes())?;
        Ok(())
    }
}

/// `{{json .}}`'s twin for `--format json` printed without a template.
pub fn header(fields: &[(&str, &str)]) -> Value {
    Value::Struct(Rc::new(Struct {
        ty: String::new(),
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), Value::str(*v)))
            .collect(),
        labels: Some(BTreeMap::new()),
    }))
}

/// A Go struct value named `ty` with `fields`, and labels for its `Label` method when given.
pub fn context(
    ty: &str,
    fields: Vec<(&str, Value)>,
    labels: Option<BTreeMap<String, String>>,
) -> Value {
    Value::Struct(Rc::new(Struct {
        ty: ty.into(),
        fields: fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
        labels,
    }))
}

/// Go's text/tabwriter as Docker sets it up (`NewWriter(out, 10, 1, 3, ' ', 0)`): cells end
/// at a tab; each column is as wide as its widest cell plus 3, at least 10; a line's last cell
/// is not padded; a column block ends at the first line without that column.
pub fn tabwrite(text: &str) -> String {
    tabwrite_with(text, 10, 3)
}

/// Go's text/tabwriter with another `minwidth` and `padding`: `docker top` uses 20 and 3,
/// Compose's `top` 4 and 2, its tables 20 and 3.
pub fn tabwrite_with(text: &str, minwidth: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text
        .split_terminator('\n')
        .map(|l| l.split('\t').collect())
        .collect();
    let mut out = String::new();
    let mut widths = Vec::new();
    let cell = Cell { minwidth, padding };
    cell.format_block(&lines, 0, lines.len(), &mut widths, &mut out);
    if text.ends_with('\n') || text.is_empty() {
        // every line was written with its newline
    } else if out.ends_with('\n') {
        out.pop();
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// A column's least width and the padding after its widest cell.
struct Cell {
    minwidth: usize,
    padding: usize,
}

impl Cell {
    fn format_block(
        &self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut w = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                w = w.max(width(lines[this][column]) + self.padding);
                this += 1;
            }
            widths.push(w);
            self.format_block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, line0, line1, widths, out);
    }
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j + 1 < line.len() {
                if let Some(w) = widths.get(j) {
                    out.push_str(&" ".repeat(w.saturating_sub(width(cell))));
                }
            }
        }
        out.push('\n');
    }
}

/// One published port as the Engine API lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    pub ip: String,
    pub private: u16,
    pub public: u16,
    pub proto: String,
}

impl Port {
    pub fn from_api(v: &serde_json::Value) -> Port {
        Port {
            ip: v["IP"].as_str().unwrap_or("").into(),
            private: v["PrivatePort"].as_u64().unwrap_or(0) as u16,
            public: v["PublicPort"].as_u64().unwrap_or(0) as u16,
            proto: v["Type"].as_str().unwrap_or("tcp").into(),
        }
    }
}

/// net.JoinHostPort: an IPv6 address in brackets (`[::]:8080`).
fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// The docker CLI's `DisplayablePorts`, which `docker ps` and Compose's `ps` print: sorted by
/// container port, runs of equal host and container ports grouped (`0.0.0.0:8000-8001->
/// 8000-8001/tcp`), other mappings after them, IPv6 addresses bracketed.
pub fn displayable_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.proto).cmp(&(b.private, &b.ip, b.public, &b.proto))
    });
    let mut groups: BTreeMap<String, (u16, u16)> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    let mut result = vec![];
    let mut mappings = vec![];
    let form = |key: &str, first: u16, last: u16| -> String {
        let (ip, proto) = match key.rsplit_once('/') {
            Some((ip, proto)) => (ip, proto),
            None => ("", key),
        };
        let mut g = first.to_string();
        if first != last {
            g = format!("{g}-{last}");
        }
        if !ip.is_empty() {
            g = format!("{}->{g}", join_host_port(ip, &g));
        }
        format!("{g}/{proto}")
    };
    for p in &ports {
        let mut key = p.proto.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                mappings.push(format!(
                    "{}->{}/{}",
                    join_host_port(&p.ip, &p.public.to_string()),
                    p.private,
                    p.proto
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.proto);
        }
        match groups.get_mut(&key) {
            None => {
                groups.insert(key.clone(), (p.private, p.private));
                order.push(key);
            }
            Some(g) if p.private == g.1 + 1 => g.1 = p.private,
            Some(g) => {
                result.push(form(&key, g.0, g.1));
                *g = (p.private, p.private);
            }
        }
    }
    for k in &order {
        let g = groups[k];
        result.push(form(k, g.0, g.1));
    }
    result.extend(mappings);
    result.join(", ")
}

/// The docker CLI's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// go-units' `HumanDuration`, as `docker ps` prints CREATED (followed by " ago").
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = (s as f64 / 3600.0).round() as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

/// An RFC 3339 time (the daemon's `Created`) as Go's `time.Time.String()` in UTC, which is
/// how `docker ps` prints CreatedAt: `2024-01-02 15:04:05 +0000 UTC`; and its age in seconds.
pub fn created(rfc3339: &str) -> (String, i64) {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            (
                t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
                (chrono::Utc::now() - t).num_seconds(),
            )
        }
        Err(_) => (rfc3339.to_string(), 0),
    }
}

/// A `Created` as either API gives it: RFC 3339 (berth's) or unix seconds (Docker's,
/// `/system/df`), as [`created`] returns it.
pub fn created_either(v: &serde_json::Value) -> (String, i64) {
    match v.as_i64() {
        Some(secs) => (created_unix(secs), chrono::Utc::now().timestamp() - secs),
        None => created(v.as_str().unwrap_or("")),
    }
}

/// Unix seconds as [`created`] prints them.
pub fn created_unix(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}

/// Labels as Docker's contexts print them: `k=v` joined by commas. Go ranges over the map in
/// random order; berth sorts, so the same container prints the same line.
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A JSON object of strings (an API's `Labels`) as a sorted map.
pub fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_as_tabwriter() {
        assert_eq!(
            tabwrite("CONTAINER ID\tNAMES\nabc\tweb-1\n"),
            "CONTAINER ID   NAMES\nabc            web-1\n"
        );
        // Minimum width 10, last cell never padded.
        assert_eq!(
            tabwrite("A\tB\tC\nx\ty\tz\n"),
            "A         B         C\nx         y         z\n"
        );
        assert_eq!(tabwrite("plain\n"), "plain\n");
    }

    #[test]
    fn table_format_prints_headers() {
        let f = Formatter::new(Some("table {{.ID}}\\t{{.Names}}"), "").unwrap();
        let row = context(
            "*formatter.ContainerContext",
            vec![
                ("ID", Value::str("0123456789ab")),
                ("Names", Value::str("web")),
            ],
            None,
        );
        let h = header(&[("ID", "CONTAINER ID"), ("Names", "NAMES")]);
        assert_eq!(
            f.render(std::slice::from_ref(&row), &h).unwrap(),
            "CONTAINER ID   NAMES\n0123456789ab   web\n"
        );
        // With no rows, the header alone.
        assert_eq!(f.render(&[], &h).unwrap(), "CONTAINER ID   NAMES\n");
        let j = Formatter::new(Some("json"), "").unwrap();
        assert_eq!(
            j.render(std::slice::from_ref(&row), &h).unwrap(),
            "{\"ID\":\"0123456789ab\",\"Names\":\"web\"}\n"
        );
        let e = Formatter::new(Some("{{.Nope}}"), "").unwrap();
        assert_eq!(
            e.render(&[row], &h).unwrap_err().to_string(),
            "template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"
        );
    }

    #[test]
    fn ports_as_docker() {
        let p = |ip: &str, private, public| Port {
            ip: ip.into(),
            private,
            public,
            proto: "tcp".into(),
        };
        assert_eq!(
            displayable_ports(&[p("0.0.0.0", 80, 8080)]),
            "0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[p("::", 80, 8080), p("0.0.0.0", 80, 8080)]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(
            displayable_ports(&[
                p("0.0.0.0", 8001, 8001),
                p("0.0.0.0", 8000, 8000),
                p("127.0.0.1", 53, 5353)
            ]),
            "0.0.0.0:8000-8001->8000-8001/tcp, 127.0.0.1:5353->53/tcp"
        );
        assert_eq!(displayable_ports(&[p("", 80, 0)]), "80/tcp");
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn small_helpers() {
        assert_eq!(ellipsis("sleep 1000", 20), "sleep 1000");
        assert_eq!(
            ellipsis("/docker-entrypoint.sh nginx -g", 20),
            "/docker-entrypoint.…"
        );
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(
            created("2024-01-02T15:04:05.123456789Z").0,
            "2024-01-02 15:04:05 +0000 UTC"
        );
    }
}
