//! What the Dockerfile parser leaves to us about heredocs: their delimiters' names, and
//! the `RUN cmd <<EOF` form, which it reads only as `RUN <<EOF cmd`.

/// `text` from `start`, or from the next character when `start` falls inside one: the
/// parser skips a byte order mark at a line's start as if it were blank, and its offsets
/// can then land inside it (found by fuzzing).
pub(crate) fn text_from(text: &str, start: usize) -> &str {
    let start = (start..text.len())
        .find(|&at| text.is_char_boundary(at))
        .unwrap_or(text.len());
    &text[start..]
}

/// The heredoc delimiters of an instruction's first line, in order (`<<EOF`, `<<-'EOF'`,
/// `<<"EOF"`); the parser keeps the documents but not their names.
pub(crate) fn heredoc_names(text: &str, start: usize) -> Vec<String> {
    let line = text_from(text, start).lines().next().unwrap_or_default();
    let mut names = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("<<") {
        rest = &rest[at + 2..];
        let word = rest.trim_start_matches('-');
        let word = word.trim_start_matches(['\'', '"']);
        let name: String = word
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-' || *c == '.')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

/// The text with each `RUN` line's one heredoc marker moved right after its keyword and
/// flags, every line keeping its length (so positions, hence line numbers, stay); `None`
/// when no line has a marker to move.
pub(crate) fn move_heredoc_markers(text: &str) -> Option<String> {
    let mut changed = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        // `get`, not indexing: the line may start with any character, of any width.
        let is_run = trimmed
            .get(..3)
            .is_some_and(|k| k.eq_ignore_ascii_case("RUN"))
            && trimmed
                .get(3..)
                .is_some_and(|r| r.len() > 1 && r.starts_with([' ', '\t']));
        let moved = is_run.then(|| move_marker(&trimmed[4..])).flatten();
        match moved {
            Some(rest) => {
                changed = true;
                out.push_str(&line[..indent + 4]);
                out.push_str(&rest);
            }
            None => out.push_str(line),
        }
    }
    changed.then_some(out)
}

/// `--flags cmd args <<EOF more` as `--flags <<EOF cmd args more`, if there is exactly one
/// marker and it is not first already.
fn move_marker(rest: &str) -> Option<String> {
    if rest.matches("<<").count() != 1 {
        return None;
    }
    let words: Vec<&str> = rest.split(' ').collect();
    let marker = words
        .iter()
        .position(|w| w.starts_with("<<") && w.len() > 2)?;
    let first_command = words
        .iter()
        .position(|w| !w.is_empty() && !w.starts_with("--"))?;
    if marker <= first_command {
        return None;
    }
    let mut reordered: Vec<&str> = words[..first_command].to_vec();
    reordered.push(words[marker]);
    reordered.extend(&words[first_command..marker]);
    reordered.extend(&words[marker + 1..]);
    Some(reordered.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_order() {
        assert_eq!(
            heredoc_names("COPY <<a <<-'b' <<\"c\" /d/\n", 0),
            vec!["a", "b", "c"]
        );
        assert!(heredoc_names("RUN echo hi\n", 0).is_empty());
    }

    #[test]
    fn a_marker_moves_before_the_command_keeping_the_length() {
        let text = "FROM a\nRUN --mount=x cat <<EOF > /f\nbody\nEOF\n";
        let moved = move_heredoc_markers(text).unwrap();
        assert_eq!(moved, "FROM a\nRUN --mount=x <<EOF cat > /f\nbody\nEOF\n");
        assert_eq!(moved.len(), text.len());
        assert_eq!(
            move_heredoc_markers("FROM a\nRUN <<EOF cat\nx\nEOF\n"),
            None
        );
        assert_eq!(move_heredoc_markers("FROM a\nRUN a <<X <<Y\n"), None);
    }

    #[test]
    fn a_line_starting_with_a_wide_character_is_no_run() {
        // Found by fuzzing: a byte offset of 3 inside a BOM.
        assert_eq!(move_heredoc_markers("\u{feff}RUN x <<EOF\n"), None);
        assert_eq!(move_heredoc_markers("RU\u{e9} x <<EOF\n"), None);
    }
}
