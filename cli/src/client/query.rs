//! Query strings and path segments, encoded the way the Engine API expects.

use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters escaped inside a path segment. `/` and `:` stay literal because
/// image references (`library/busybox:latest`) travel in the path unescaped.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub fn segment(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

#[derive(Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    pub fn param(mut self, key: &str, value: impl Into<String>) -> Query {
        self.pairs.push((key.to_owned(), value.into()));
        self
    }

    pub fn param_opt(self, key: &str, value: Option<impl Into<String>>) -> Query {
        match value {
            Some(v) => self.param(key, v),
            None => self,
        }
    }

    /// Booleans are sent as `1`, and only when set, as the docker client does.
    pub fn flag(self, key: &str, on: bool) -> Query {
        if on {
            self.param(key, "1")
        } else {
            self
        }
    }

    /// The `filters` parameter: `{"name":{"foo":true}}`, from `key=value` pairs.
    pub fn filters(self, filters: &[(String, String)]) -> Query {
        if filters.is_empty() {
            return self;
        }
        let mut grouped: BTreeMap<&str, BTreeMap<&str, bool>> = BTreeMap::new();
        for (key, value) in filters {
            grouped.entry(key).or_default().insert(value, true);
        }
        let json = serde_json::to_string(&grouped).expect("string maps always serialize");
        self.param("filters", json)
    }

    pub fn build(&self) -> String {
        if self.pairs.is_empty() {
            return String::new();
        }
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.pairs {
            serializer.append_pair(k, v);
        }
        format!("?{}", serializer.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_flags_params_and_filters() {
        let q = Query::new()
            .flag("all", true)
            .flag("size", false)
            .param("name", "a b")
            .filters(&[
                ("status".into(), "exited".into()),
                ("label".into(), "a=b".into()),
                ("status".into(), "created".into()),
            ]);
        assert_eq!(
            q.build(),
            "?all=1&name=a+b&filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%2C%22status%22%3A%7B%22created%22%3Atrue%2C%22exited%22%3Atrue%7D%7D"
        );
        assert_eq!(Query::new().build(), "");
    }

    #[test]
    fn path_segments_keep_image_reference_punctuation() {
        assert_eq!(segment("library/busybox:latest"), "library/busybox:latest");
        assert_eq!(segment("a b?#"), "a%20b%3F%23");
    }
}
