//! `.dockerignore` as docker's client reads and applies it (moby's
//! `ignorefile` and `patternmatcher`): one pattern a line, `#` comments, `!`
//! exceptions where the last matching pattern wins, `*`, `?`, `[…]` and `**`.

use regex::Regex;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IgnoreError {
    #[error("illegal exclusion pattern: \"!\"")]
    BareExclusion,
    #[error("syntax error in pattern")]
    BadPattern,
}

/// Go's `filepath.Clean` for slash-separated paths.
pub fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The patterns of a `.dockerignore` file, normalised as docker does:
/// trimmed, cleaned, made relative to the context.
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut patterns = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = go_clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        patterns.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    patterns
}

#[derive(Debug)]
enum Match {
    Exact(String),
    /// The pattern without its trailing `**`.
    Prefix(String),
    /// The pattern without its leading `**`.
    Suffix(String),
    Regex(Regex),
}

#[derive(Debug)]
struct Pattern {
    exclusion: bool,
    dirs: usize,
    matcher: Match,
}

fn escaped(c: char) -> bool {
    ".+()|{}$".contains(c)
}

/// patternmatcher's translation of a pattern into a match rule.
fn compile(pattern: &str) -> Result<Match, IgnoreError> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut regex = String::from("^");
    let mut kind = Kind::Exact;
    let mut i = 0;
    let mut index = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        regex.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    regex.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if index == 0 {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                regex.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                regex.push_str("[^/]");
                kind = Kind::Regex;
            }
            c if escaped(c) => {
                regex.push('\\');
                regex.push(c);
            }
            '\\' => match chars.get(i) {
                Some(next) => {
                    regex.push('\\');
                    regex.push(*next);
                    i += 1;
                    kind = Kind::Regex;
                }
                None => regex.push('\\'),
            },
            '[' | ']' => {
                regex.push(c);
                kind = Kind::Regex;
            }
            c => regex.push(c),
        }
        index += 1;
    }
    Ok(match kind {
        Kind::Exact => Match::Exact(pattern.to_owned()),
        Kind::Prefix => Match::Prefix(pattern[..pattern.len() - 2].to_owned()),
        Kind::Suffix => Match::Suffix(pattern[2..].to_owned()),
        Kind::Regex => {
            regex.push('$');
            Match::Regex(Regex::new(&regex).map_err(|_| IgnoreError::BadPattern)?)
        }
    })
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Match::Exact(p) => path == p,
            Match::Prefix(p) => path.starts_with(p.as_str()),
            Match::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Match::Regex(re) => re.is_match(path),
        }
    }
}

/// A compiled list of patterns.
#[derive(Debug, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    pub fn new(patterns: &[String]) -> Result<Matcher, IgnoreError> {
        let mut matcher = Matcher::default();
        for p in patterns {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = go_clean(p);
            let exclusion = p.starts_with('!');
            if exclusion {
                if p.len() == 1 {
                    return Err(IgnoreError::BareExclusion);
                }
                p.remove(0);
                matcher.exclusions = true;
            }
            matcher.patterns.push(Pattern {
                exclusion,
                dirs: p.split('/').count(),
                matcher: compile(&p)?,
            });
        }
        Ok(matcher)
    }

    /// Whether there are `!` exceptions (then an excluded directory may
    /// still hold files that are sent).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// patternmatcher's `MatchesOrParentMatches`: is `file` (slash-separated,
    /// relative to the context) excluded, by its own name or a parent's?
    pub fn excludes(&self, file: &str) -> bool {
        let file = go_clean(file);
        if file == "." {
            return false;
        }
        let parent = match file.rfind('/') {
            Some(i) => &file[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&file);
            if !hit && parent != "." {
                hit = (1..=parent_dirs.len()).any(|n| pattern.matches(&parent_dirs[..n].join("/")));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// patternmatcher's `Matches`: the parent check looks only at the parent
    /// as deep as the pattern (used to keep the Dockerfile and .dockerignore).
    pub fn matches(&self, file: &str) -> bool {
        let file = go_clean(file);
        if file == "." {
            return false;
        }
        let parent = match file.rfind('/') {
            Some(i) => &file[..i],
            None => ".",
        };
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pattern in &self.patterns {
            if pattern.exclusion != matched {
                continue;
            }
            let mut hit = pattern.matches(&file);
            if !hit && parent != "." && pattern.dirs <= parent_dirs.len() {
                hit = pattern.matches(&parent_dirs[..pattern.dirs].join("/"));
            }
            if hit {
                matched = !pattern.exclusion;
            }
        }
        matched
    }
}

/// docker's `TrimBuildFilesFromExcludes`: the Dockerfile and .dockerignore
/// always travel (the daemon leaves them out of what COPY sees).
pub fn keep_build_files(mut patterns: Vec<String>, dockerfile: &str) -> Vec<String> {
    let excluded =
        |patterns: &[String], file: &str| Matcher::new(patterns).is_ok_and(|m| m.matches(file));
    if excluded(&patterns, ".dockerignore") {
        patterns.push("!.dockerignore".to_owned());
    }
    if excluded(&patterns, dockerfile) {
        patterns.push(format!("!{dockerfile}"));
    }
    patterns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(pattern: &str, path: &str) -> bool {
        Matcher::new(&[pattern.to_owned()]).unwrap().excludes(path)
    }

    /// patternmatcher's TestMatches table.
    #[test]
    fn patterns_match_as_patternmatcher_matches_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**", "file/", true),
            ("**/", "file", true),
            ("**/", "file/", true),
            ("**", "/", true),
            ("**/", "/", true),
            ("**", "dir/file", true),
            ("**/", "dir/file", true),
            ("**", "dir/file/", true),
            ("**/", "dir/file/", true),
            ("**/**", "dir/file", true),
            ("**/**", "dir/file/", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/file/", true),
            ("dir/**", "dir/dir2/file", true),
            ("dir/**", "dir/dir2/file/", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/*", "dir/dir2/file/", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file/", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc.def", "abcZdef", false),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("a\\\\", "a\\", true),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def", true),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\*b", "a*b", true),
        ];
        for (pattern, path, expected) in cases {
            assert_eq!(single(pattern, path), *expected, "{pattern} vs {path}");
        }
    }

    #[test]
    fn exceptions_and_the_last_matching_pattern_win() {
        let m = |patterns: &[&str], path: &str| {
            let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
            Matcher::new(&patterns).unwrap().excludes(path)
        };
        assert!(!m(&["**", "!util/docker/web"], "util/docker/web/foo"));
        assert!(m(
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo"
        ));
        assert!(!m(&["**", "!dist/*.whl"], "dist/x-1.0-py3-none-any.whl"));
        assert!(m(&["*.md", "!README.md"], "CHANGES.md"));
        assert!(!m(&["*.md", "!README.md"], "README.md"));
        assert!(m(&["docs"], "docs/deep/file"), "a parent excludes its tree");
        assert!(!m(&["**"], "."), "the context itself is never excluded");
        assert_eq!(
            Matcher::new(&["!".to_owned()]).unwrap_err(),
            IgnoreError::BareExclusion
        );
        assert_eq!(
            Matcher::new(&["a[".to_owned()]).unwrap_err(),
            IgnoreError::BadPattern
        );
    }

    #[test]
    fn files_are_read_and_normalised_like_ignorefile() {
        let text = "\u{feff}# comment\n  \n/abs/path\n ! keep/me \nsub//dir/../x/\n#not\n  # indented comment is a pattern\n";
        assert_eq!(
            read_patterns(text),
            [
                "abs/path",
                "!keep/me",
                "sub/x",
                "# indented comment is a pattern"
            ]
        );
        assert_eq!(go_clean("a/./b/../../c"), "c");
        assert_eq!(go_clean("../a"), "../a");
        assert_eq!(go_clean("/../a"), "/a");
    }

    #[test]
    fn dockerfile_and_dockerignore_are_always_kept() {
        let kept = keep_build_files(vec!["*".to_owned()], "Dockerfile");
        assert_eq!(kept, ["*", "!.dockerignore", "!Dockerfile"]);
        let kept = keep_build_files(vec!["docs".to_owned()], "build/Dockerfile");
        assert_eq!(kept, ["docs"]);
    }
}
