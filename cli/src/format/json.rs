//! Re-indents JSON text without decoding it, so the daemon's key order and
//! escapes survive (`docker inspect` prints the daemon's document as is).

/// Indents `raw` with `indent` per level, dropping the whitespace it had.
/// Empty arrays and objects stay `[]` and `{}`.
pub fn indent(raw: &[u8], prefix: &str, indent: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut need_newline = false; // an opening bracket awaits its first element
    let text = String::from_utf8_lossy(raw);
    let mut chars = text.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(prefix);
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    while let Some(c) = chars.next() {
        if c.is_ascii_whitespace() {
            continue;
        }
        if need_newline && c != ']' && c != '}' {
            need_newline = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                out.push('"');
                while let Some(s) = chars.next() {
                    out.push(s);
                    match s {
                        '\\' => {
                            if let Some(escaped) = chars.next() {
                                out.push(escaped);
                            }
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '[' => {
                out.push(c);
                need_newline = true;
            }
            '}' | ']' => {
                if need_newline {
                    // Empty container: keep it on one line.
                    need_newline = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            ',' => {
                out.push(',');
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go_json_indent_and_keeps_key_order() {
        let raw = br#"[{"Zeta":1,"Alpha":{"k":"v, \"x\"","e":{},"l":[]},"List":[1, 2]}]"#;
        let expected = "[\n    {\n        \"Zeta\": 1,\n        \"Alpha\": {\n            \"k\": \"v, \\\"x\\\"\",\n            \"e\": {},\n            \"l\": []\n        },\n        \"List\": [\n            1,\n            2\n        ]\n    }\n]";
        assert_eq!(indent(raw, "", "    "), expected);
        assert_eq!(indent(b"[]", "", "    "), "[]");
    }
}
