//! Plain text tables for terminals: columns padded to their widest cell.

/// How matched words are marked: bold on a terminal, `[…]` in a pipe.
pub fn marks(terminal: bool) -> (&'static str, &'static str) {
    if terminal {
        ("\u{1b}[1m", "\u{1b}[0m")
    } else {
        ("[", "]")
    }
}

/// Renders `rows` under `header`; the last column is not padded (titles run long).
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let width = widths.get(i).copied().unwrap_or(0);
                let pad = width.saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_to_the_widest_cell() {
        let rows = vec![
            vec!["1".to_string(), "Größe".to_string(), "x".to_string()],
            vec!["100".to_string(), "a".to_string(), "long title".to_string()],
        ];
        assert_eq!(
            render(&["N", "WORD", "TITLE"], &rows),
            "N    WORD   TITLE\n1    Größe  x\n100  a      long title\n"
        );
    }
}
