//! Docker's `filters` query parameter: a JSON object whose values are lists
//! (`{"label":["a=b"]}`) or, as Docker's own client sends them, sets
//! (`{"label":{"a=b":true}}`). Each route names the keys it knows; any other is a 400, as
//! dockerd answers `invalid filter 'x'`.

use super::super::http::{ApiError, Query};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
pub struct Filters(HashMap<String, Vec<String>>);

impl Filters {
    /// Parses `filters` of `q`, refusing keys outside `known`.
    pub fn parse(q: &Query, known: &[&str]) -> Result<Filters, ApiError> {
        let Some(raw) = q.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(Filters::default());
        };
        Self::from_json(raw, known)
    }

    pub fn from_json(raw: &str, known: &[&str]) -> Result<Filters, ApiError> {
        let bad = |why: String| ApiError::bad_request(format!("invalid filter {raw:?}: {why}"));
        let map: serde_json::Map<String, Value> =
            serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let mut out = HashMap::new();
        for (k, v) in map {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
            }
            let values: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(bad(format!("{k}: {other} is not a string"))),
                    })
                    .collect::<Result<_, _>>()?,
                Value::Object(o) => o
                    .into_iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(x, _)| x)
                    .collect(),
                other => return Err(bad(format!("{k}: {other} is neither a list nor a set"))),
            };
            out.insert(k, values);
        }
        Ok(Filters(out))
    }

    pub fn values(&self, k: &str) -> &[String] {
        self.0.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn has(&self, k: &str) -> bool {
        !self.values(k).is_empty()
    }

    /// Every `label` filter holds (`key` present, or `key=value` equal), as Docker's.
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.label_filters_match("label", labels)
    }

    /// As [`Self::labels_match`] for another key (`label!` negates each).
    pub fn label_filters_match(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.values(key).iter().all(|l| label_holds(l, labels))
    }

    /// Whether an object with `labels`, made at `created` (unix seconds), passes a prune's
    /// filters as dockerd's prunes read them: every `label` holds, no `label!` does, and it
    /// is older than `until` (one of unknown age is kept then).
    pub fn prunable(
        &self,
        labels: &BTreeMap<String, String>,
        created: Option<i64>,
    ) -> Result<bool, ApiError> {
        if !self.labels_match(labels)
            || self.values("label!").iter().any(|l| label_holds(l, labels))
        {
            return Ok(false);
        }
        match self.values("until").first() {
            Some(u) => {
                let until = super::containers::parse_until(u)?;
                Ok(created.is_some_and(|t| t < until))
            }
            None => Ok(true),
        }
    }

    /// A key whose value is true or false (`dangling`); None when absent.
    pub fn truth(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.values(k).first().map(String::as_str) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(v) => Err(ApiError::bad_request(format!(
                "invalid filter '{k}={v}': expected true or false"
            ))),
        }
    }
}

/// `key` (present) or `key=value` (equal) holds for `labels`.
fn label_holds(filter: &str, labels: &BTreeMap<String, String>) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_sets() {
        let f = Filters::from_json(
            r#"{"label":{"a=b":true,"c":true},"name":["x"]}"#,
            &["label", "name"],
        )
        .unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        assert!(!f.labels_match(&labels));
        labels.insert("c".to_string(), String::new());
        assert!(f.labels_match(&labels));
        assert_eq!(f.values("name"), ["x".to_string()]);
        assert!(Filters::from_json(r#"{"bogus":["x"]}"#, &["label"]).is_err());
        assert!(Filters::from_json(r#"{"label":[1]}"#, &["label"]).is_err());
        assert!(Filters::from_json(r#"["label"]"#, &["label"]).is_err());
    }
}
