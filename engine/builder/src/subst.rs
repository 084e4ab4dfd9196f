//! Variable substitution in instruction words, with the quoting rules of Docker's shell
//! lexer: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`,
//! `${VAR+alt}`, `${VAR:?message}`; single quotes are literal; double quotes expand; the
//! escape character (`\` or the `# escape=` one) makes the next character literal.

use std::iter::Peekable;
use std::str::Chars;

use crate::ErrorKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstError {
    #[error(
        "failed to process {word:?}: unexpected end of statement while looking for matching {what}"
    )]
    Unterminated { word: String, what: &'static str },
    #[error("failed to process {word:?}: missing ':' in substitution")]
    BadModifier { word: String },
    #[error("failed to process {word:?}: {name}: {message}")]
    Required {
        word: String,
        name: String,
        message: String,
    },
}

impl SubstError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// Where variables are looked up.
pub trait Vars {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// `word` with its variables substituted and its quotes and escapes removed.
pub fn process_word(word: &str, vars: &dyn Vars, escape: char) -> Result<String, SubstError> {
    let mut lexer = Lexer {
        word,
        chars: word.chars().peekable(),
        vars,
        escape,
        literal_quotes: false,
    };
    lexer.process(None)
}

/// Every word of `text` (split on unquoted whitespace), each processed.
pub fn process_words(text: &str, vars: &dyn Vars, escape: char) -> Result<Vec<String>, SubstError> {
    crate::dockerfile::split_words(text, escape)
        .iter()
        .map(|w| process_word(w, vars, escape))
        .collect()
}

/// `text` with its variables substituted and everything else kept, quotes included: a
/// heredoc's content, which is a file's text rather than a word.
pub fn expand_text(text: &str, vars: &dyn Vars, escape: char) -> Result<String, SubstError> {
    let mut lexer = Lexer {
        word: text,
        chars: text.chars().peekable(),
        vars,
        escape,
        literal_quotes: true,
    };
    lexer.process(None)
}

struct Lexer<'a> {
    word: &'a str,
    chars: Peekable<Chars<'a>>,
    vars: &'a dyn Vars,
    escape: char,
    /// Quotes are text, not quoting (heredocs).
    literal_quotes: bool,
}

impl Lexer<'_> {
    fn unterminated(&self, what: &'static str) -> SubstError {
        SubstError::Unterminated {
            word: self.word.to_string(),
            what,
        }
    }

    /// Up to the end, or inside `${…}` up to its closing brace (left unconsumed).
    fn process(&mut self, until_brace: Option<()>) -> Result<String, SubstError> {
        let mut out = String::new();
        while let Some(&c) = self.chars.peek() {
            if until_brace.is_some() && c == '}' {
                return Ok(out);
            }
            self.chars.next();
            if self.literal_quotes {
                match c {
                    '$' => out.push_str(&self.variable()?),
                    c if c == self.escape && self.chars.peek() == Some(&'$') => {
                        self.chars.next();
                        out.push('$');
                    }
                    c => out.push(c),
                }
                continue;
            }
            match c {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.variable()?),
                c if c == self.escape => match self.chars.next() {
                    Some(next) => out.push(next),
                    None => out.push(c),
                },
                c => out.push(c),
            }
        }
        if until_brace.is_some() {
            return Err(self.unterminated("'}'"));
        }
        Ok(out)
    }

    fn single_quoted(&mut self) -> Result<String, SubstError> {
        let mut out = String::new();
        loop {
            match self.chars.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => return Err(self.unterminated("single quote")),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, SubstError> {
        let mut out = String::new();
        loop {
            match self.chars.next() {
                Some('"') => return Ok(out),
                Some('$') => out.push_str(&self.variable()?),
                Some(c) if c == self.escape => match self.chars.peek().copied() {
                    Some(next) if next == '"' || next == '$' || next == self.escape => {
                        self.chars.next();
                        out.push(next);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => return Err(self.unterminated("double quote")),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.chars.next();
            } else {
                break;
            }
        }
        name
    }

    /// After a `$`.
    fn variable(&mut self) -> Result<String, SubstError> {
        match self.chars.peek() {
            Some('{') => {
                self.chars.next();
                self.braced()
            }
            Some(c) if c.is_ascii_alphanumeric() || *c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).unwrap_or_default())
            }
            // A lone `$` is itself.
            _ => Ok("$".to_string()),
        }
    }

    /// After `${`.
    fn braced(&mut self) -> Result<String, SubstError> {
        let name = self.name();
        let value = self.vars.get(&name);
        let colon = self.chars.peek() == Some(&':');
        if colon {
            self.chars.next();
        }
        let modifier = match self.chars.next() {
            Some('}') if !colon => return Ok(value.unwrap_or_default()),
            Some(m @ ('-' | '+' | '?')) => m,
            Some(_) if colon => {
                return Err(SubstError::BadModifier {
                    word: self.word.to_string(),
                })
            }
            Some(_) => {
                return Err(SubstError::BadModifier {
                    word: self.word.to_string(),
                })
            }
            None => return Err(self.unterminated("'}'")),
        };
        let word = self.process(Some(()))?;
        self.chars.next(); // the closing brace
                           // With a colon, an empty value counts as unset.
        let set = match &value {
            Some(v) => !colon || !v.is_empty(),
            None => false,
        };
        match modifier {
            '-' => Ok(if set { value.unwrap_or_default() } else { word }),
            '+' => Ok(if set { word } else { String::new() }),
            _ if set => Ok(value.unwrap_or_default()),
            _ => Err(SubstError::Required {
                word: self.word.to_string(),
                name,
                message: if word.is_empty() {
                    "parameter null or not set".to_string()
                } else {
                    word
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("x y".into()),
            _ => None,
        }
    }

    fn word(w: &str) -> String {
        process_word(w, &vars, '\\').unwrap()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(word("$A"), "alpha");
        assert_eq!(word("${A}b"), "alphab");
        assert_eq!(word("$Ab"), "");
        assert_eq!(word("x$NOPE-y"), "x-y");
        assert_eq!(word("cost: $"), "cost: $");
        assert_eq!(word("$1"), "");
    }

    #[test]
    fn modifiers() {
        assert_eq!(word("${NOPE:-def}"), "def");
        assert_eq!(word("${EMPTY:-def}"), "def");
        assert_eq!(word("${EMPTY-def}"), "");
        assert_eq!(word("${A:-def}"), "alpha");
        assert_eq!(word("${A:+alt}"), "alt");
        assert_eq!(word("${EMPTY:+alt}"), "");
        assert_eq!(word("${EMPTY+alt}"), "alt");
        assert_eq!(word("${NOPE:+alt}"), "");
        assert_eq!(word("${NOPE:-$A}"), "alpha");
        assert_eq!(word("${NOPE:-${A:+nested}}"), "nested");
        let err = process_word("${NOPE:?needed}", &vars, '\\').unwrap_err();
        assert!(err.to_string().contains("NOPE: needed"), "{err}");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(word("'$A'"), "$A");
        assert_eq!(word("\"$A b\""), "alpha b");
        assert_eq!(word("\\$A"), "$A");
        assert_eq!(word("\"\\$A \\\" \\n\""), "$A \" \\n");
        assert_eq!(word("a\\ b"), "a b");
        assert_eq!(process_word("`$A", &vars, '`').unwrap(), "$A");
        assert!(process_word("\"open", &vars, '\\').is_err());
        assert!(process_word("${A", &vars, '\\').is_err());
        assert!(process_word("${A%x}", &vars, '\\').is_err());
    }

    #[test]
    fn heredoc_text_keeps_its_quotes() {
        assert_eq!(
            expand_text("echo \"$A\" '${NOPE:-x}' \\$A\n", &vars, '\\').unwrap(),
            "echo \"alpha\" 'x' $A\n"
        );
    }

    #[test]
    fn words_split_before_substitution() {
        assert_eq!(
            process_words("$A \"b c\" $SP", &vars, '\\').unwrap(),
            vec!["alpha", "b c", "x y"]
        );
    }
}
