//! Docker's `filters` query parameter: `{"name": {"x": true}}` or the older `{"name": ["x"]}`,
//! shared by the listings, the prunes and the event stream.

use std::collections::HashMap;

/// A `filters` parameter that is not a JSON object of lists.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidFilter(String);

impl InvalidFilter {
    pub fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::InvalidArgument
    }
}

#[derive(Debug, Default)]
pub struct Filters(HashMap<String, Vec<String>>);

impl Filters {
    pub fn parse(raw: &str) -> Result<Filters, InvalidFilter> {
        if raw.trim().is_empty() {
            return Ok(Filters::default());
        }
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|err| InvalidFilter(format!("invalid filter: {err}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| InvalidFilter("invalid filter: expected a JSON object".into()))?;
        let mut filters = HashMap::new();
        for (key, values) in object {
            let list: Vec<String> = match values {
                serde_json::Value::Object(map) => map.keys().cloned().collect(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    return Err(InvalidFilter(format!(
                        "invalid filter: values of {key:?} must be an object or a list"
                    )))
                }
            };
            filters.insert(key.clone(), list);
        }
        Ok(Filters(filters))
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_accept_both_shapes() {
        let f = Filters::parse(r#"{"name":{"web":true},"status":["exited"]}"#).unwrap();
        assert_eq!(f.get("name"), ["web"]);
        assert_eq!(f.get("status"), ["exited"]);
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse("{").is_err());
    }
}
