//! CSV per RFC 4180 (a header row, CRLF line ends, fields quoted when they hold a comma, a
//! double quote, CR or LF, inner quotes doubled), with spreadsheet formulas neutralised: a
//! cell that starts with `=`, `+`, `-` or `@` gets a leading `'`, so a caller id such as
//! `=HYPERLINK(...)` (or `+7999...`) is shown as text and never evaluated.

/// First characters that make a spreadsheet evaluate a cell as a formula.
const FORMULA_STARTS: [char; 4] = ['=', '+', '-', '@'];

/// One CSV field per RFC 4180; a would-be formula gets a leading `'`.
pub(super) fn csv_field(out: &mut String, s: &str) {
    let neutral;
    let s = if s.starts_with(FORMULA_STARTS) {
        neutral = format!("'{s}");
        neutral.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// One CSV record, CRLF-terminated.
pub(super) fn csv_row<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f.as_ref());
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_per_rfc_4180() {
        let mut out = String::new();
        csv_row(
            &mut out,
            &["plain", "a,b", "say \"hi\"", "two\nlines", "", "cr\r"],
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,\"cr\r\"\r\n"
        );
    }

    #[test]
    fn cells_that_a_spreadsheet_would_evaluate_are_neutralised() {
        let mut out = String::new();
        csv_row(
            &mut out,
            &[
                "=1+1",
                "+79995550101",
                "-2",
                "@SUM(A1)",
                "=HYPERLINK(\"x\",\"y\")",
                "a=b",
                "1.5",
            ],
        );
        assert_eq!(
            out,
            "'=1+1,'+79995550101,'-2,'@SUM(A1),\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",a=b,1.5\r\n"
        );
    }
}
