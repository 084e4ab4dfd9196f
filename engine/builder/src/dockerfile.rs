//! The Dockerfile as a typed list of stages and instructions, each with its line number.
//!
//! The grammar (instructions, flags, JSON forms, heredocs, `# escape=`, line continuations)
//! is `parse-dockerfile`'s; this module turns its borrowed syntax tree into owned values and
//! splits what it leaves as raw text (`ENV`/`LABEL`/`ARG` pairs, shell lines). Variables are
//! not substituted here: their values depend on the instructions before them.

use parse_dockerfile as syntax;

use crate::heredoc::{heredoc_names, move_heredoc_markers};
use crate::ErrorKind;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DockerfileError {
    /// The parser's message already ends with "at line N column M".
    #[error("dockerfile parse error: {0}")]
    Syntax(String),
    #[error("dockerfile parse error line {line}: {message}")]
    Invalid { line: usize, message: String },
    #[error("the Dockerfile is not valid UTF-8")]
    NotUtf8,
}

impl DockerfileError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
    fn invalid(line: usize, message: impl Into<String>) -> Self {
        DockerfileError::Invalid {
            line,
            message: message.into(),
        }
    }
}

/// An instruction or a `FROM`, where it is and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located<T> {
    /// 1-based line of the instruction's keyword.
    pub line: usize,
    /// The instruction as written, continuation lines joined: what `Step N/M :` shows.
    pub original: String,
    pub value: T,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub escape: char,
    /// `ARG`s before the first `FROM`.
    pub global_args: Vec<Located<Vec<ArgDecl>>>,
    pub stages: Vec<StageDef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageDef {
    pub from: Located<From>,
    pub instructions: Vec<Located<Instruction>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// Unsubstituted: it may name global ARGs.
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// The default, unsubstituted.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// The JSON form: run as is.
    Exec(Vec<String>),
    /// A line for the shell (`SHELL`, `/bin/sh -c` by default).
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter (`EOF` of `<<EOF`): a COPY names the file after it.
    pub name: String,
    pub content: String,
    /// False when the delimiter was quoted (`<<'EOF'`): no variable expansion.
    pub expand: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    Path(String),
    Heredoc(Heredoc),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// `--name[=value]` flags, in order, unsubstituted.
    pub flags: Vec<(String, Option<String>)>,
    pub sources: Vec<CopySource>,
    pub dest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd {
        flags: Vec<(String, Option<String>)>,
        command: CommandForm,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run {
        flags: Vec<(String, Option<String>)>,
        command: CommandForm,
        heredocs: Vec<Heredoc>,
    },
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    /// `KEY=value` pairs, both raw (quotes and variables still in).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Expose(Vec<String>),
    Copy(CopySpec),
    Add(CopySpec),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Stopsignal(String),
    Shell(Vec<String>),
    Healthcheck(Healthcheck),
    Maintainer(String),
    /// The trigger as written, after `ONBUILD `.
    Onbuild(String),
}

/// Parses `text` into stages. Errors carry the line they were found on.
pub fn parse(bytes: &[u8]) -> Result<Dockerfile, DockerfileError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DockerfileError::NotUtf8)?;
    // A UTF-8 byte order mark is dropped, as Docker's parser drops it; the parser crate
    // skips it too, and its offsets must index this same text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // `RUN cmd <<EOF` is read as `RUN <<EOF cmd` (the shell takes the redirection anywhere
    // on the line); the parser knows only the second. Tried only when the text as written
    // does not parse, so no line that parses changes meaning.
    let moved;
    let parsed = match syntax::parse(text) {
        Ok(parsed) => parsed,
        Err(first) => {
            moved = move_heredoc_markers(text);
            match moved.as_deref().map(syntax::parse) {
                Some(Ok(parsed)) => parsed,
                _ => return Err(DockerfileError::Syntax(first.to_string())),
            }
        }
    };
    let escape = parsed
        .parser_directives
        .escape
        .as_ref()
        .map_or('\\', |d| d.value.value);
    let lines = LineIndex::new(text);
    let mut dockerfile = Dockerfile {
        escape,
        global_args: Vec::new(),
        stages: Vec::new(),
    };
    for instruction in &parsed.instructions {
        let start = keyword_start(instruction);
        let line = lines.line_of(start);
        let original = original_text(text, start, escape);
        match instruction {
            syntax::Instruction::From(from) => {
                let value = convert_from(from, line)?;
                dockerfile.stages.push(StageDef {
                    from: Located {
                        line,
                        original,
                        value,
                    },
                    instructions: Vec::new(),
                });
            }
            other => {
                let value = convert(other, text, escape, line)?;
                match (dockerfile.stages.last_mut(), value) {
                    (Some(stage), value) => stage.instructions.push(Located {
                        line,
                        original,
                        value,
                    }),
                    (None, Instruction::Arg(args)) => dockerfile.global_args.push(Located {
                        line,
                        original,
                        value: args,
                    }),
                    (None, _) => {
                        return Err(DockerfileError::invalid(
                            line,
                            "no build stage in current context",
                        ))
                    }
                }
            }
        }
    }
    if dockerfile.stages.is_empty() {
        return Err(DockerfileError::invalid(
            1,
            "the Dockerfile has no FROM instruction",
        ));
    }
    Ok(dockerfile)
}

fn flags(options: &[syntax::Flag<'_>]) -> Vec<(String, Option<String>)> {
    options
        .iter()
        .map(|f| {
            (
                f.name.value.to_string(),
                f.value.as_ref().map(|v| v.value.to_string()),
            )
        })
        .collect()
}

fn convert_from(from: &syntax::FromInstruction<'_>, line: usize) -> Result<From, DockerfileError> {
    let mut platform = None;
    for (name, value) in flags(&from.options) {
        match name.as_str() {
            "platform" => platform = value,
            other => {
                return Err(DockerfileError::invalid(
                    line,
                    format!("unknown flag: --{other}"),
                ))
            }
        }
    }
    let name = match &from.as_ {
        Some((_, name)) => {
            let name = name.value.to_lowercase();
            let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(DockerfileError::invalid(
                    line,
                    format!(
                        "invalid name for build stage: {name:?}, name can't start with a number \
                         or contain symbols"
                    ),
                ));
            }
            Some(name)
        }
        None => None,
    };
    Ok(From {
        image: from.image.value.to_string(),
        name,
        platform,
    })
}

fn command(command: &syntax::Command<'_>, escape: char) -> CommandForm {
    match command {
        syntax::Command::Exec(args) => {
            CommandForm::Exec(args.value.iter().map(|a| a.value.to_string()).collect())
        }
        syntax::Command::Shell(line) => CommandForm::Shell(join_continuations(line.value, escape)),
        // The parser's enums are non-exhaustive; a form it adds later is taken as a shell line.
        _ => CommandForm::Shell(String::new()),
    }
}

fn heredoc(doc: &syntax::HereDoc<'_>, name: Option<&String>) -> Heredoc {
    Heredoc {
        name: name.cloned().unwrap_or_else(|| "EOF".to_string()),
        content: doc.value.to_string(),
        expand: doc.expand,
    }
}

fn copy_spec(
    options: &[syntax::Flag<'_>],
    src: &[syntax::Source<'_>],
    dest: &syntax::UnescapedString<'_>,
    names: &[String],
) -> CopySpec {
    let mut names = names.iter();
    CopySpec {
        flags: flags(options),
        sources: src
            .iter()
            .map(|s| match s {
                syntax::Source::Path(p) => CopySource::Path(p.value.to_string()),
                syntax::Source::HereDoc(doc) => CopySource::Heredoc(heredoc(doc, names.next())),
                _ => CopySource::Path(String::new()),
            })
            .collect(),
        dest: dest.value.to_string(),
    }
}

fn convert(
    instruction: &syntax::Instruction<'_>,
    text: &str,
    escape: char,
    line: usize,
) -> Result<Instruction, DockerfileError> {
    use syntax::Instruction as S;
    let names = heredoc_names(text, keyword_start(instruction));
    Ok(match instruction {
        S::Run(run) => Instruction::Run {
            flags: flags(&run.options),
            command: command(&run.arguments, escape),
            heredocs: run
                .here_docs
                .iter()
                .zip(names.iter().map(Some).chain(std::iter::repeat(None)))
                .map(|(doc, name)| heredoc(doc, name))
                .collect(),
        },
        S::Cmd(cmd) => Instruction::Cmd(command(&cmd.arguments, escape)),
        S::Entrypoint(e) => Instruction::Entrypoint(command(&e.arguments, escape)),
        S::Env(env) => Instruction::Env(name_values(&env.arguments.value, escape, "ENV", line)?),
        S::Label(label) => {
            Instruction::Label(name_values(&label.arguments.value, escape, "LABEL", line)?)
        }
        S::Arg(arg) => Instruction::Arg(arg_decls(&arg.arguments.value, escape, line)?),
        S::Expose(expose) => Instruction::Expose(
            expose
                .arguments
                .iter()
                .map(|a| a.value.to_string())
                .collect(),
        ),
        S::Copy(copy) => Instruction::Copy(copy_spec(&copy.options, &copy.src, &copy.dest, &names)),
        S::Add(add) => Instruction::Add(copy_spec(&add.options, &add.src, &add.dest, &names)),
        S::Volume(volume) => Instruction::Volume(match &volume.arguments {
            syntax::JsonOrStringArray::Json(items) => {
                items.value.iter().map(|a| a.value.to_string()).collect()
            }
            syntax::JsonOrStringArray::String(items) => {
                items.iter().map(|a| a.value.to_string()).collect()
            }
        }),
        S::User(user) => Instruction::User(user.arguments.value.to_string()),
        S::Workdir(dir) => Instruction::Workdir(dir.arguments.value.to_string()),
        S::Stopsignal(signal) => Instruction::Stopsignal(signal.arguments.value.to_string()),
        S::Shell(shell) => Instruction::Shell(
            shell
                .arguments
                .iter()
                .map(|a| a.value.to_string())
                .collect(),
        ),
        S::Healthcheck(check) => Instruction::Healthcheck(match &check.arguments {
            syntax::HealthcheckArguments::None { .. } => Healthcheck::None,
            syntax::HealthcheckArguments::Cmd { arguments, .. } => Healthcheck::Cmd {
                flags: flags(&check.options),
                command: command(arguments, escape),
            },
            _ => {
                return Err(DockerfileError::invalid(
                    line,
                    "this HEALTHCHECK form is not supported by berth yet",
                ))
            }
        }),
        S::Maintainer(m) => Instruction::Maintainer(m.name.value.to_string()),
        S::Onbuild(onbuild) => {
            let start = keyword_start(&onbuild.instruction);
            Instruction::Onbuild(original_text(text, start, escape))
        }
        _ => {
            return Err(DockerfileError::invalid(
                line,
                "this instruction is not supported by berth yet",
            ))
        }
    })
}

fn keyword_start(instruction: &syntax::Instruction<'_>) -> usize {
    use syntax::Instruction as S;
    let span = match instruction {
        S::Add(i) => &i.add.span,
        S::Arg(i) => &i.arg.span,
        S::Cmd(i) => &i.cmd.span,
        S::Copy(i) => &i.copy.span,
        S::Entrypoint(i) => &i.entrypoint.span,
        S::Env(i) => &i.env.span,
        S::Expose(i) => &i.expose.span,
        S::From(i) => &i.from.span,
        S::Healthcheck(i) => &i.healthcheck.span,
        S::Label(i) => &i.label.span,
        S::Maintainer(i) => &i.maintainer.span,
        S::Onbuild(i) => &i.onbuild.span,
        S::Run(i) => &i.run.span,
        S::Shell(i) => &i.shell.span,
        S::Stopsignal(i) => &i.stopsignal.span,
        S::User(i) => &i.user.span,
        S::Volume(i) => &i.volume.span,
        S::Workdir(i) => &i.workdir.span,
        _ => return 0,
    };
    span.start
}

struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

/// The logical line starting at `start`: physical lines ending in the escape character are
/// joined (the escape and the newline dropped), comment lines inside are skipped.
fn original_text(text: &str, start: usize, escape: char) -> String {
    let rest = crate::heredoc::text_from(text, start);
    let mut out = String::new();
    let mut first = true;
    for line in rest.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if !first && line.trim_start().starts_with('#') {
            continue;
        }
        first = false;
        match line.trim_end().strip_suffix(escape) {
            Some(head) => out.push_str(head),
            None => {
                out.push_str(line);
                break;
            }
        }
    }
    out.trim().to_string()
}

/// A shell line as the parser leaves it, its continuations joined as Docker joins them.
fn join_continuations(raw: &str, escape: char) -> String {
    original_text(raw, 0, escape)
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the words (the substitution
/// removes them later, as Docker's does).
pub fn split_words(raw: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (q, c) if c == escape && q != Some('\'') => {
                word.push(c);
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                word.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `KEY=value KEY2="v 2"`, or the legacy `KEY value with spaces`.
fn name_values(
    raw: &str,
    escape: char,
    what: &str,
    line: usize,
) -> Result<Vec<(String, String)>, DockerfileError> {
    let words = split_words(raw, escape);
    let Some(first) = words.first() else {
        return Err(DockerfileError::invalid(
            line,
            format!("{what} requires at least one argument"),
        ));
    };
    if !first.contains('=') {
        let (key, value) = raw.trim().split_once(char::is_whitespace).ok_or_else(|| {
            DockerfileError::invalid(line, format!("{what} must have two arguments"))
        })?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(DockerfileError::invalid(
                line,
                format!("{what} names can not be blank"),
            )),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => Err(DockerfileError::invalid(
                line,
                format!("Syntax error - can't find = in {word:?}. Must be of the form: name=value"),
            )),
        })
        .collect()
}

fn arg_decls(raw: &str, escape: char, line: usize) -> Result<Vec<ArgDecl>, DockerfileError> {
    let words = split_words(raw, escape);
    if words.is_empty() {
        return Err(DockerfileError::invalid(
            line,
            "ARG requires at least one argument",
        ));
    }
    words
        .into_iter()
        .map(|word| {
            let (name, default) = match word.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (word, None),
            };
            if name.is_empty() {
                return Err(DockerfileError::invalid(line, "ARG names can not be blank"));
            }
            Ok(ArgDecl { name, default })
        })
        .collect()
}
