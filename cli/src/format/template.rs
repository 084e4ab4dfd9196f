//! Go templates for `--format`, rendered with gtmpl, with the functions docker
//! adds (`json`, `split`, `join`, `title`, `lower`, `upper`, `pad`,
//! `truncate`) and its `table` directive.
//!
//! gtmpl prints arrays and maps with Rust's `Debug`; Go prints `[a b]` and
//! `map[k:v]`. So before parsing, every printing action is piped through a
//! private function that renders its value the way Go's fmt does.

use std::collections::{BTreeMap, HashMap};

use gtmpl::{Context, Func, FuncError, Value};

use super::tabwriter::TabWriter;

const PRINT_FUNC: &str = "__berth_print";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template parsing error: {0}")]
    Execute(String),
}

/// A parsed `--format` value.
pub struct Template {
    rows: gtmpl::Template,
    headers: Option<gtmpl::Template>,
}

/// Turns docker's format spellings into a template text: `json` means
/// `{{json .}}`, a `table` prefix asks for aligned columns with headers, and
/// the two-character sequences `\t` and `\n` stand for tab and newline.
fn template_text(format: &str) -> (String, bool) {
    if format == "json" {
        return ("{{json .}}".to_owned(), false);
    }
    let (body, table) = match format.strip_prefix("table") {
        Some(rest) => (rest, true),
        None => (format, false),
    };
    let body = body
        .trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n");
    (body, table)
}

impl Template {
    pub fn parse(format: &str) -> Result<Template, TemplateError> {
        let (text, table) = template_text(format);
        let text = wrap_print_actions(&text);
        let rows = build(&text, ROW_FUNCS)?;
        let headers = if table {
            Some(build(&text, HEADER_FUNCS)?)
        } else {
            None
        };
        Ok(Template { rows, headers })
    }

    pub fn is_table(&self) -> bool {
        self.headers.is_some()
    }

    pub fn render(&self, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.rows
            .render(&Context::from(to_gtmpl(data)))
            .map_err(|e| TemplateError::Execute(e.to_string()))
    }

    /// Renders each row on its own line; a table gets its header line from
    /// `headers` (field name → column title) and tab-aligned columns.
    pub fn render_rows(
        &self,
        rows: &[serde_json::Value],
        headers: &[(&str, &str)],
    ) -> Result<String, TemplateError> {
        let mut text = String::new();
        if let Some(header_template) = &self.headers {
            // Fields without a title read as an empty heading.
            let header_fields: HashMap<String, Value> = headers
                .iter()
                .map(|(field, title)| (field.to_string(), Value::from(*title)))
                .collect();
            let heading = header_template
                .render(&Context::from(Value::Map(header_fields)))
                .map_err(|e| TemplateError::Execute(e.to_string()))?;
            text.push_str(&heading);
            text.push('\n');
        }
        for row in rows {
            text.push_str(&self.render(row)?);
            text.push('\n');
        }
        if self.is_table() {
            Ok(TabWriter::default().format(&text))
        } else {
            Ok(text)
        }
    }
}

fn build(text: &str, funcs: &[(&str, Func)]) -> Result<gtmpl::Template, TemplateError> {
    let mut template = gtmpl::Template::default();
    template.add_funcs(funcs);
    template
        .parse(text)
        .map_err(|e| TemplateError::Parse(e.to_string()))?;
    Ok(template)
}

const ROW_FUNCS: &[(&str, Func)] = &[
    ("json", json),
    ("split", split),
    ("join", join),
    ("title", title),
    ("lower", lower),
    ("upper", upper),
    ("pad", pad),
    ("truncate", truncate),
    ("println", println),
    ("index", index),
    (PRINT_FUNC, go_print),
];

/// For the header line the functions that would mangle a column title leave
/// it alone, as docker's do; `pad` still pads so columns stay aligned.
const HEADER_FUNCS: &[(&str, Func)] = &[
    ("json", first_arg),
    ("split", first_arg),
    ("join", first_arg),
    ("title", first_arg),
    ("lower", first_arg),
    ("upper", first_arg),
    ("pad", pad),
    ("truncate", first_arg),
    ("println", println),
    ("index", index),
    (PRINT_FUNC, go_print),
];

/// Appends `| __berth_print` to every action that prints its pipeline's
/// value: not control words, comments or variable declarations.
fn wrap_print_actions(src: &str) -> String {
    let mut out = String::with_capacity(src.len() + 64);
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        rest = &rest[open + 2..];
        let Some(close) = action_end(rest) else {
            // Unclosed action: leave it for the parser to report.
            out.push_str("{{");
            break;
        };
        out.push_str("{{");
        out.push_str(&wrap_action(&rest[..close]));
        out.push_str("}}");
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Finds the `}}` closing an action, skipping string and char literals and
/// comments.
fn action_end(body: &str) -> Option<usize> {
    let after_trim = if body.starts_with("- ") { 2 } else { 0 };
    if body[after_trim..].starts_with("/*") {
        let end = body[after_trim..].find("*/")? + after_trim + 2;
        return body[end..].find("}}").map(|i| i + end);
    }
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

const CONTROL_WORDS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

fn wrap_action(body: &str) -> String {
    let (left, inner) = match body.strip_prefix("- ") {
        Some(rest) => ("- ", rest),
        None => ("", body),
    };
    let (inner, right) = match inner.strip_suffix(" -") {
        Some(rest) => (rest, " -"),
        None => (inner, ""),
    };
    let trimmed = inner.trim();
    let first_word = trimmed
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    if trimmed.is_empty()
        || trimmed.starts_with("/*")
        || CONTROL_WORDS.contains(&first_word)
        || is_declaration(trimmed)
    {
        return body.to_owned();
    }
    format!("{left}{inner} | {PRINT_FUNC}{right}")
}

/// `$x := …` or `$x = …` (but not `$x == …`, which Go does not have anyway).
fn is_declaration(action: &str) -> bool {
    let Some(rest) = action.strip_prefix('$') else {
        return false;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_alphanumeric() || c == '_');
    let rest = rest.trim_start();
    rest.starts_with(":=") || (rest.starts_with('=') && !rest.starts_with("=="))
}

pub fn to_gtmpl(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(to_gtmpl).collect()),
        // Objects, so that a missing field is an error as with docker's
        // typed structs (gtmpl's maps would print "<no value>").
        serde_json::Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect())
        }
    }
}

pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into()
            } else if let Some(i) = n.as_i64() {
                i.into()
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
        }
        Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Value::Object(map) | Value::Map(map) => {
            serde_json::Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

/// Go's `fmt.Sprint` of a value decoded from JSON.
pub fn go_format(value: &Value) -> String {
    match value {
        // A field the daemon omitted prints as its zero value would.
        Value::NoValue => String::new(),
        Value::Nil => "<nil>".to_owned(),
        Value::Function(_) => "<func>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) => go_float(f),
            None => n.to_string(),
        },
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_format).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::Object(map) | Value::Map(map) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let parts: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_format(v)))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` for float64: shortest representation, exponent form for large
/// and tiny magnitudes.
fn go_float(f: f64) -> String {
    if f != 0.0 && (f.abs() >= 1e21 || f.abs() < 1e-4) {
        let s = format!("{f:e}");
        let (mantissa, exponent) = s.split_once('e').expect("{:e} has an exponent");
        let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

fn arg_str(args: &[Value], i: usize, func: &str) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(go_format(other)),
        None => Err(FuncError::AtLeastXArgs(func.into(), i + 1)),
    }
}

fn arg_int(args: &[Value], i: usize, func: &str) -> Result<i64, FuncError> {
    match args.get(i) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| FuncError::Generic(format!("{func}: expected an integer, got {n}"))),
        Some(other) => Err(FuncError::Generic(format!(
            "{func}: expected an integer, got {}",
            go_format(other)
        ))),
        None => Err(FuncError::AtLeastXArgs(func.into(), i + 1)),
    }
}

fn go_print(args: &[Value]) -> Result<Value, FuncError> {
    let value = args
        .last()
        .ok_or(FuncError::AtLeastXArgs(PRINT_FUNC.into(), 1))?;
    Ok(Value::String(go_format(value)))
}

fn first_arg(args: &[Value]) -> Result<Value, FuncError> {
    args.first()
        .cloned()
        .ok_or(FuncError::AtLeastXArgs("function".into(), 1))
}

fn json(args: &[Value]) -> Result<Value, FuncError> {
    let value = args
        .first()
        .ok_or(FuncError::ExactlyXArgs("json".into(), 1))?;
    serde_json::to_string(&to_json(value))
        .map(Value::String)
        .map_err(|e| FuncError::Generic(format!("json: {e}")))
}

fn split(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "split")?;
    let sep = arg_str(args, 1, "split")?;
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_owned()))
            .collect()
    };
    Ok(Value::Array(parts))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = arg_str(args, 1, "join")?;
    let joined = match args.first() {
        None | Some(Value::Nil) | Some(Value::NoValue) => String::new(),
        Some(Value::Array(items)) => items.iter().map(go_format).collect::<Vec<_>>().join(&sep),
        Some(Value::Object(map)) | Some(Value::Map(map)) => {
            let mut values: Vec<String> = map.values().map(go_format).collect();
            values.sort();
            values.join(&sep)
        }
        Some(other) => {
            return Err(FuncError::Generic(format!(
                "join: expected slice, got {}",
                go_format(other)
            )))
        }
    };
    Ok(Value::String(joined))
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of each word.
fn title(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "title")?;
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.chars() {
        if at_word_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    Ok(Value::String(out))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "lower")?.to_lowercase()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0, "upper")?.to_uppercase()))
}

fn pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "pad")?;
    let prefix = arg_int(args, 1, "pad")?.max(0) as usize;
    let suffix = arg_int(args, 2, "pad")?.max(0) as usize;
    if s.is_empty() {
        return Ok(Value::String(s));
    }
    Ok(Value::String(format!(
        "{}{s}{}",
        " ".repeat(prefix),
        " ".repeat(suffix)
    )))
}

fn truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0, "truncate")?;
    let len = arg_int(args, 1, "truncate")?.max(0) as usize;
    Ok(Value::String(s.chars().take(len).collect()))
}

/// Go's `fmt.Sprintln`: operands joined by spaces, then a newline.
fn println(args: &[Value]) -> Result<Value, FuncError> {
    let parts: Vec<String> = args.iter().map(go_format).collect();
    Ok(Value::String(format!("{}\n", parts.join(" "))))
}

/// Like Go's `index`, but a key missing from a map yields the empty string,
/// as it does for docker's typed `map[string]string` (labels, options).
fn index(args: &[Value]) -> Result<Value, FuncError> {
    let (collection, keys) = args
        .split_first()
        .ok_or(FuncError::AtLeastXArgs("index".into(), 2))?;
    let mut current = collection.clone();
    for key in keys {
        current = match (&current, key) {
            (Value::Object(map) | Value::Map(map), Value::String(k)) => {
                map.get(k).cloned().unwrap_or_else(|| Value::from(""))
            }
            (Value::Array(items), Value::Number(n)) => {
                let i = n
                    .as_u64()
                    .ok_or_else(|| FuncError::Generic(format!("index: bad index {n}")))?;
                items
                    .get(i as usize)
                    .cloned()
                    .ok_or_else(|| FuncError::Generic(format!("index out of range: {i}")))?
            }
            (Value::Nil | Value::NoValue, _) => {
                return Err(FuncError::Generic("index of untyped nil".into()))
            }
            (other, key) => {
                return Err(FuncError::Generic(format!(
                    "can't index item of type {} with {}",
                    kind(other),
                    go_format(key)
                )))
            }
        };
    }
    Ok(current)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::NoValue | Value::Nil => "nil",
        Value::Bool(_) => "bool",
        Value::String(_) => "string",
        Value::Object(_) | Value::Map(_) => "map",
        Value::Array(_) => "slice",
        Value::Function(_) => "func",
        Value::Number(_) => "number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(format: &str, data: serde_json::Value) -> String {
        Template::parse(format).unwrap().render(&data).unwrap()
    }

    fn inspect_sample() -> serde_json::Value {
        json!({
            "Id": "0123456789abcdef",
            "Name": "/web",
            "State": {"ExitCode": 137, "Running": false, "OOMKilled": true},
            "Config": {
                "Cmd": ["echo", "hi"],
                "Entrypoint": null,
                "Labels": {"k": "v", "a": "b"},
                "Env": ["A=1", "B=2"]
            }
        })
    }

    #[test]
    fn inspect_style_fields_and_functions() {
        let data = inspect_sample();
        assert_eq!(render("{{.State.ExitCode}}", data.clone()), "137");
        assert_eq!(render("{{.Name}}", data.clone()), "/web");
        assert_eq!(render(r#"{{index .Config.Labels "k"}}"#, data.clone()), "v");
        assert_eq!(
            render(r#"{{index .Config.Labels "nope"}}"#, data.clone()),
            ""
        );
        assert_eq!(render("{{.Config.Cmd}}", data.clone()), "[echo hi]");
        assert_eq!(render("{{.Config.Labels}}", data.clone()), "map[a:b k:v]");
        assert_eq!(render("{{.Config.Entrypoint}}", data.clone()), "<nil>");
        assert_eq!(
            render("{{json .Config.Labels}}", data.clone()),
            r#"{"a":"b","k":"v"}"#
        );
        assert_eq!(
            render("{{json .State}}", data.clone()),
            r#"{"ExitCode":137,"OOMKilled":true,"Running":false}"#
        );
        assert_eq!(
            render("{{if .State.OOMKilled}}oom{{end}}", data.clone()),
            "oom"
        );
        assert_eq!(
            render("{{if eq .State.ExitCode 137}}killed{{end}}", data.clone()),
            "killed"
        );
        assert_eq!(
            render(r#"{{join .Config.Env ","}}"#, data.clone()),
            "A=1,B=2"
        );
        assert_eq!(
            render("{{range .Config.Env}}{{.}};{{end}}", data.clone()),
            "A=1;B=2;"
        );
        assert_eq!(render("{{$n := .Name}}{{$n}}", data.clone()), "/web");
        assert_eq!(render("{{- .Name -}} ", data.clone()), "/web");
        assert_eq!(render("{{/* a }} comment */}}x", data.clone()), "x");
        assert_eq!(render(r#"{{"}}"}}"#, data.clone()), "}}");
        assert_eq!(
            render(
                r#"{{upper .Name}} {{lower "AB"}} {{title "hello world"}}"#,
                data.clone()
            ),
            "/WEB ab Hello World"
        );
        assert_eq!(
            render(
                r#"{{truncate .Id 4}}|{{pad .Name 1 2}}|{{pad "" 1 2}}|"#,
                data.clone()
            ),
            "0123| /web  ||"
        );
        assert_eq!(render(r#"{{split "a:b:c" ":"}}"#, data.clone()), "[a b c]");
        assert_eq!(render("{{println .Name}}", data.clone()), "/web\n");
        assert_eq!(
            render(r#"{{printf "%s-%d" .Name .State.ExitCode}}"#, data),
            "/web-137"
        );
    }

    #[test]
    fn missing_fields_are_errors_and_bad_templates_fail_to_parse() {
        let t = Template::parse("{{.Nope}}").unwrap();
        assert!(t.render(&inspect_sample()).is_err());
        assert!(matches!(
            Template::parse("{{.Name"),
            Err(TemplateError::Parse(_))
        ));
    }

    #[test]
    fn table_directive_renders_headers_and_aligned_columns() {
        let rows = vec![
            json!({"ID": "abc123def456", "Names": "web", "Status": "Up 2 minutes"}),
            json!({"ID": "fedcba987654", "Names": "a-much-longer-name", "Status": "Exited (0) 1 second ago"}),
        ];
        let headers = [
            ("ID", "CONTAINER ID"),
            ("Names", "NAMES"),
            ("Status", "STATUS"),
        ];
        let t = Template::parse(r"table {{.ID}}\t{{.Names}}\t{{.Status}}").unwrap();
        assert!(t.is_table());
        assert_eq!(
            t.render_rows(&rows, &headers).unwrap(),
            "CONTAINER ID   NAMES                STATUS\n\
             abc123def456   web                  Up 2 minutes\n\
             fedcba987654   a-much-longer-name   Exited (0) 1 second ago\n"
        );
        // Header functions leave titles alone.
        let t = Template::parse(r"table {{lower .Names}}\t{{json .ID}}").unwrap();
        assert_eq!(
            t.render_rows(&rows[..1], &headers).unwrap(),
            "NAMES     CONTAINER ID\nweb       \"abc123def456\"\n"
        );
        let plain = Template::parse(r"{{.Names}}\t{{.ID}}").unwrap();
        assert_eq!(
            plain.render_rows(&rows, &headers).unwrap(),
            "web\tabc123def456\na-much-longer-name\tfedcba987654\n"
        );
        let json_keyword = Template::parse("json").unwrap();
        assert_eq!(
            json_keyword.render_rows(&rows[..1], &headers).unwrap(),
            "{\"ID\":\"abc123def456\",\"Names\":\"web\",\"Status\":\"Up 2 minutes\"}\n"
        );
    }
}
