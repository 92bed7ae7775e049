//! Plain-text tables for the listing commands: left-aligned columns two spaces apart, sized to
//! their widest cell, with over-long cells cut so that one odd value does not push every row
//! off the screen.

/// Widest a cell may be before it is cut (with `…`).
pub const MAX_CELL: usize = 60;

/// Rows under a header line.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are empty, extra ones are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.into_iter().map(|c| clean(&c)).collect();
        cells.resize(self.header.len(), String::new());
        self.rows.push(cells);
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in a newline. Trailing blanks are
    /// trimmed, so the last column is never padded.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                std::iter::once(&self.header[i])
                    .chain(self.rows.iter().map(|r| &r[i]))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for cells in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (cell, width) in cells.iter().zip(&widths) {
                let pad = width - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A cell on one line: control characters become spaces, and the text is cut at
/// [`MAX_CELL`] characters.
fn clean(cell: &str) -> String {
    let flat: String = cell
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cut(&flat, MAX_CELL)
}

/// `text` cut to at most `max` characters, the last one `…` when something was cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut table = Table::new(&["ID", "STATE", "REASON"]);
        table.row(vec!["a".into(), "succeeded".into(), String::new()]);
        table.row(vec!["bbbb".into(), "failed".into(), "exit code 1".into()]);
        assert_eq!(
            table.render(),
            "ID    STATE      REASON\n\
             a     succeeded\n\
             bbbb  failed     exit code 1\n"
        );
    }

    #[test]
    fn cells_stay_on_one_line_and_are_cut_when_too_long() {
        let mut table = Table::new(&["A", "B"]);
        table.row(vec!["x\ny\tz".into()]);
        table.row(vec!["é".repeat(100), "b".into()]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], "x y z");
        assert!(lines[2].starts_with(&format!("{}…  b", "é".repeat(MAX_CELL - 1))));
        assert!(!table.is_empty());
    }

    #[test]
    fn cut_counts_characters_not_bytes() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo", 4), "hél…");
        assert_eq!(cut("abc", 1), "…");
        assert_eq!(cut("abc", 0), "");
    }
}
