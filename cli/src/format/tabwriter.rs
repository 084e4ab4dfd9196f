//! Elastic tabstops as docker's table output uses them (Go's text/tabwriter
//! semantics with minwidth 10, tabwidth 1, padding 3, space padding, no flags).
//!
//! A cell is text terminated by a tab; the text after a line's last tab is not
//! part of any column. A column block is a run of consecutive lines that all
//! have a cell in that column, and each block is as wide as its widest cell
//! plus the padding, but never narrower than the minimum width.

pub struct TabWriter {
    pub min_width: usize,
    pub padding: usize,
}

impl Default for TabWriter {
    fn default() -> Self {
        TabWriter {
            min_width: 10,
            padding: 3,
        }
    }
}

impl TabWriter {
    pub fn format(&self, text: &str) -> String {
        let lines: Vec<Vec<&str>> = text
            .split_terminator('\n')
            .map(|line| line.split('\t').collect())
            .collect();
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    /// Lays out lines[start..end], all of which share the columns in `widths`.
    fn format_block(
        &self,
        lines: &[Vec<&str>],
        mut start: usize,
        end: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = start;
        while this < end {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // lines[this] opens a block for `column`.
            write_lines(&lines[start..this], widths, out);
            start = this;
            let mut width = self.min_width;
            while this < end && column + 1 < lines[this].len() {
                width = width.max(display_width(lines[this][column]) + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format_block(lines, start, this, widths, out);
            widths.pop();
            start = this;
        }
        write_lines(&lines[start..end], widths, out);
    }
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let pad = widths[j].saturating_sub(display_width(cell));
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

fn display_width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_pad_to_widest_cell_plus_three_with_minimum_ten() {
        let text = "CONTAINER ID\tIMAGE\tNAMES\nabc123def456\tbusybox\tx\n";
        let got = TabWriter::default().format(text);
        assert_eq!(
            got,
            "CONTAINER ID   IMAGE     NAMES\nabc123def456   busybox   x\n"
        );
    }

    #[test]
    fn last_cell_is_not_padded_and_blocks_follow_lines() {
        let text = "a\tb\nlonger-cell-here\tc\nno tabs at all\nx\ty\n";
        let got = TabWriter::default().format(text);
        assert_eq!(
            got,
            "a                  b\nlonger-cell-here   c\nno tabs at all\nx         y\n"
        );
    }
}
