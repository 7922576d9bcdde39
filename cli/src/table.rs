//! Space-aligned text tables, like Go's tabwriter as Micro uses it (`micro env`, `store read -v`,
//! `cluster members`). Widths count characters; the last column is never padded.

/// Rows of cells, rendered with every column as wide as its widest cell.
#[derive(Debug, Default, Clone)]
pub struct Table {
    /// Header (if any) followed by data rows.
    rows: Vec<Vec<String>>,
}

/// Spaces between columns.
const GAP: usize = 2;

impl Table {
    /// An empty table without a header.
    pub fn new() -> Self {
        Table::default()
    }

    /// A table whose first row is `header`.
    pub fn with_header(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders every row as one line ending in `\n`, with trailing spaces trimmed.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count() + GAP;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_last_is_unpadded() {
        let mut t = Table::with_header(&["KEY", "VALUE", "EXPIRY"]);
        t.row(vec!["a".into(), "héllo world".into(), "None".into()]);
        t.row(vec!["longer-key".into(), "v".into(), "".into()]);
        assert_eq!(
            t.render(),
            "KEY         VALUE        EXPIRY\n\
             a           héllo world  None\n\
             longer-key  v\n"
        );
    }

    #[test]
    fn empty_table_renders_nothing() {
        assert_eq!(Table::new().render(), "");
    }
}
