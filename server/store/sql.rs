//! Building the few statements whose shape depends on the data (multi-row inserts,
//! IN lists). Every value is still bound, never spliced.

/// A query over either backend, as the binders of multi-row statements take it.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// `($1, $2, $3), ($4, $5, $6), …` for `rows` rows of `columns` columns.
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    placeholders_from(0, rows, columns)
}

/// The same, numbered after the first `before` parameters (for a statement that
/// follows others in one query).
pub(crate) fn placeholders_from(before: usize, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=columns)
                .map(|c| format!("${}", before + r * columns + c))
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1, $2, …, $n`: the inside of an IN list.
pub(crate) fn in_list(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_rows_and_columns() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::in_list(3), "$1, $2, $3");
        assert_eq!(super::placeholders_from(4, 1, 2), "($5, $6)");
    }
}
