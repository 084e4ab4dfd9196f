//! The build's progress as BuildKit shows it, drawn from the legacy
//! builder's JSON stream (`Step N/M : …`, ` ---> …`, the steps' output):
//! plain, each line prefixed with its step (`#2 [2/3] RUN …`, `#2 0.412 hi`,
//! `#2 DONE 0.5s`); or on a terminal, one line per step with its time, the
//! running step's last lines of output under it, folded away once it is done.

use std::io::Write;
use std::time::Instant;

/// Lines of a running step's output kept on screen in TTY mode.
const TAIL_LINES: usize = 6;

struct Step {
    number: usize,
    title: String,
    started: Instant,
    cached: bool,
    output: Vec<String>,
}

pub struct Display<W: Write> {
    out: W,
    tty: bool,
    step: Option<Step>,
    /// Lines drawn for the running step in TTY mode, to redraw them in place.
    drawn: usize,
    /// An unfinished line of the stream.
    partial: String,
}

impl<W: Write> Display<W> {
    pub fn new(out: W, tty: bool) -> Display<W> {
        Display {
            out,
            tty,
            step: None,
            drawn: 0,
            partial: String::new(),
        }
    }

    /// Takes a piece of the stream's text (lines may be split across pieces).
    pub fn text(&mut self, text: &str) -> std::io::Result<()> {
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.line(line.trim_end_matches(['\n', '\r']))?;
        }
        Ok(())
    }

    fn line(&mut self, line: &str) -> std::io::Result<()> {
        if let Some(rest) = line.strip_prefix("Step ") {
            if let Some((counter, instruction)) = rest.split_once(" : ") {
                self.finish_step()?;
                let number = counter
                    .split('/')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                self.step = Some(Step {
                    number,
                    title: format!("[{counter}] {instruction}"),
                    started: Instant::now(),
                    cached: false,
                    output: Vec::new(),
                });
                return self.draw_start();
            }
        }
        if let Some(note) = line.strip_prefix(" ---> ") {
            if let Some(step) = self.step.as_mut() {
                if note == "Using cache" {
                    step.cached = true;
                }
                // The legacy builder's bookkeeping (container and layer IDs)
                // is not output of the step.
                return Ok(());
            }
        }
        if line.starts_with("Successfully built ") || line.starts_with("Successfully tagged ") {
            self.finish_step()?;
            return writeln!(self.out, "{line}");
        }
        match self.step.as_mut() {
            Some(step) => {
                let elapsed = step.started.elapsed().as_secs_f64();
                step.output.push(line.to_owned());
                if self.tty {
                    self.redraw()
                } else {
                    writeln!(self.out, "#{} {elapsed:.3} {line}", step.number)
                }
            }
            None => writeln!(self.out, "{line}"),
        }
    }

    fn draw_start(&mut self) -> std::io::Result<()> {
        let Some(step) = &self.step else {
            return Ok(());
        };
        if self.tty {
            self.drawn = 0;
            self.redraw()
        } else {
            writeln!(self.out, "#{} {}", step.number, step.title)
        }
    }

    /// TTY mode: the running step's line and the tail of its output, in place.
    fn redraw(&mut self) -> std::io::Result<()> {
        let Some(step) = &self.step else {
            return Ok(());
        };
        let mut block = format!(
            " => {} {:.1}s\n",
            step.title,
            step.started.elapsed().as_secs_f64()
        );
        let tail = step.output.len().saturating_sub(TAIL_LINES);
        for line in &step.output[tail..] {
            block.push_str(&format!(" => => # {line}\n"));
        }
        if self.drawn > 0 {
            write!(self.out, "\x1b[{}A\x1b[J", self.drawn)?;
        }
        self.drawn = 1 + step.output.len() - tail;
        self.out.write_all(block.as_bytes())?;
        self.out.flush()
    }

    /// Closes the running step: its time, and in TTY mode its output folded away.
    fn finish_step(&mut self) -> std::io::Result<()> {
        let Some(step) = self.step.take() else {
            return Ok(());
        };
        let elapsed = step.started.elapsed().as_secs_f64();
        if self.tty {
            if self.drawn > 0 {
                write!(self.out, "\x1b[{}A\x1b[J", self.drawn)?;
            }
            self.drawn = 0;
            let cached = if step.cached { "CACHED " } else { "" };
            writeln!(self.out, " => {cached}{} {elapsed:.1}s", step.title)?;
        } else if step.cached {
            writeln!(self.out, "#{} CACHED\n", step.number)?;
        } else {
            writeln!(self.out, "#{} DONE {elapsed:.1}s\n", step.number)?;
        }
        self.out.flush()
    }

    /// The build failed: in TTY mode the failing step's whole output is shown
    /// before the error, as BuildKit does.
    pub fn failed(&mut self) -> std::io::Result<()> {
        self.flush_partial()?;
        let Some(step) = self.step.take() else {
            return Ok(());
        };
        if self.tty {
            if self.drawn > 0 {
                write!(self.out, "\x1b[{}A\x1b[J", self.drawn)?;
            }
            writeln!(self.out, " => ERROR {}", step.title)?;
            for line in &step.output {
                writeln!(self.out, " > {line}")?;
            }
        } else {
            writeln!(self.out, "#{} ERROR\n", step.number)?;
        }
        self.out.flush()
    }

    /// The stream ended well: the last step is closed.
    pub fn finish(&mut self) -> std::io::Result<()> {
        self.flush_partial()?;
        self.finish_step()
    }

    fn flush_partial(&mut self) -> std::io::Result<()> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.partial);
        self.line(&rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[&str] = &[
        "Step 1/3 : FROM busybox\n",
        " ---> 0123456789ab\n",
        "Step 2/3 : RUN echo hi && echo there\n",
        " ---> Running in abcdef012345\n",
        "hi\nthe",
        "re\n",
        " ---> Removed intermediate container abcdef012345\n",
        " ---> 1111111111ab\n",
        "Step 3/3 : COPY a /a\n",
        " ---> Using cache\n",
        " ---> 2222222222ab\n",
        "Successfully built 2222222222ab\n",
        "Successfully tagged web:latest\n",
    ];

    fn timeless(text: &str) -> String {
        // Elapsed times vary; they read `N.Ns` or `N.NNN`.
        text.split('\n')
            .map(|line| {
                line.split(' ')
                    .map(|w| {
                        let digits = w.trim_end_matches('s');
                        if digits.contains('.') && digits.parse::<f64>().is_ok() {
                            "T"
                        } else {
                            w
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn plain_progress_prefixes_each_line_with_its_step() {
        let mut out = Vec::new();
        let mut display = Display::new(&mut out, false);
        for piece in STREAM {
            display.text(piece).unwrap();
        }
        display.finish().unwrap();
        assert_eq!(
            timeless(&String::from_utf8(out).unwrap()),
            "#1 [1/3] FROM busybox\n#1 DONE T\n\n#2 [2/3] RUN echo hi && echo there\n#2 T hi\n#2 T there\n#2 DONE T\n\n#3 [3/3] COPY a /a\n#3 CACHED\n\nSuccessfully built 2222222222ab\nSuccessfully tagged web:latest\n"
        );
    }

    #[test]
    fn tty_progress_folds_each_finished_step_to_one_line() {
        let mut out = Vec::new();
        let mut display = Display::new(&mut out, true);
        for piece in STREAM {
            display.text(piece).unwrap();
        }
        display.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        // What stays on screen: everything after the last erase of each block.
        assert!(text.contains(" => => # hi\n"), "{text}");
        assert!(
            timeless(&text).ends_with(
                " => CACHED [3/3] COPY a /a T\nSuccessfully built 2222222222ab\nSuccessfully tagged web:latest\n"
            ),
            "{text:?}"
        );
        assert!(
            text.contains("\x1b[3A\x1b[J => [2/3] RUN echo hi && echo there"),
            "{text:?}"
        );
    }

    #[test]
    fn a_failing_step_shows_its_whole_output() {
        let mut out = Vec::new();
        let mut display = Display::new(&mut out, true);
        display
            .text("Step 1/1 : RUN false\n ---> Running in x\nboom\n")
            .unwrap();
        display.failed().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(" => ERROR [1/1] RUN false\n > boom\n"),
            "{text:?}"
        );
    }
}
