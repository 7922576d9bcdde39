//! Aligned text tables, like Go's tabwriter as Micro uses it: padded with spaces (`micro env`,
//! `store read -v`, `cluster members`) or with tabs (`auth list …`). Widths count characters;
//! the last column is never padded.

/// Rows of cells, rendered with every column as wide as its widest cell.
#[derive(Debug, Default, Clone)]
pub struct Table {
    /// Header (if any) followed by data rows.
    rows: Vec<Vec<String>>,
}

/// Spaces between columns.
const GAP: usize = 2;
/// Width of a tab stop in tab-padded tables (Go tabwriter's `tabwidth` as Micro sets it).
const TAB_WIDTH: usize = 8;

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

    /// Renders rows as Go's `tabwriter.NewWriter(w, 0, 8, 1, '\t', 0)` does (`auth list …`):
    /// each cell but a row's last is followed by enough tabs to reach the first tab stop past
    /// its column's widest cell plus one. Trailing text is kept as it is.
    pub fn render_tabbed(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            // A row's last cell is not part of any column.
            for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                widths[i] = widths[i].max(cell.chars().count() + 1);
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < row.len() {
                    let column = widths[i].div_ceil(TAB_WIDTH) * TAB_WIDTH;
                    let tabs = (column - cell.chars().count()).div_ceil(TAB_WIDTH);
                    out.extend(std::iter::repeat_n('\t', tabs));
                }
            }
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
        assert_eq!(Table::new().render_tabbed(), "");
    }

    #[test]
    fn tabbed_columns_reach_the_next_tab_stop_past_the_widest_cell() {
        let mut t = Table::new();
        t.row(vec!["ID".into(), "".into(), "Name".into()]);
        t.row(vec!["default".into(), "".into(), "x ".into()]);
        t.row(vec!["onlyloggedin".into(), "".into(), "y".into()]);
        // Widest ID is 12 (+1) → stop at 16: "ID" and "default" need 2 tabs, "onlyloggedin" 1;
        // the empty column is one tab; last cells keep their trailing text.
        assert_eq!(
            t.render_tabbed(),
            "ID\t\t\tName\ndefault\t\t\tx \nonlyloggedin\t\ty\n"
        );
        let mut t = Table::new();
        t.row(vec!["1234567".into(), "a".into()]);
        t.row(vec!["12345678".into(), "b".into()]);
        // The widest cell is 8 (+1) → stop at 16 for the whole column.
        assert_eq!(t.render_tabbed(), "1234567\t\ta\n12345678\tb\n");
    }
}
