//! CSV per RFC 4180 (a header row, CRLF line ends, fields quoted when they hold a comma, a
//! double quote, CR or LF, inner quotes doubled), with spreadsheet formulas neutralised: a
//! cell that starts with `=`, `+`, `-`, `@`, a tab or a CR gets a leading `'`, so a caller
//! id such as `=HYPERLINK(...)` is shown as text and never evaluated. Plain numbers and
//! phone numbers (`+79995550101`, `-2.5`, `+7 (916) 111-22-33`) stay as they are: a
//! spreadsheet can only read them as numbers, and programs importing the CDR need them
//! unchanged.

/// First characters that make a spreadsheet evaluate a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A signed number or phone number: sign, a digit, then digits, spaces, `.`, `(`, `)`, `-`.
fn is_plain_number(s: &str) -> bool {
    let rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    rest.starts_with(|c: char| c.is_ascii_digit())
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '(' | ')' | '-'))
}

/// One CSV field per RFC 4180; a would-be formula gets a leading `'`.
pub(super) fn csv_field(out: &mut String, s: &str) {
    let neutral;
    let s = if s.starts_with(FORMULA_STARTS) && !is_plain_number(s) {
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
pub(crate) fn csv_row<S: AsRef<str>>(out: &mut String, fields: &[S]) {
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
                "+1+cmd|' /C calc'!A0",
                "-2+3",
                "\t=1",
                "+7 (916) 111-22-33",
            ],
        );
        assert_eq!(
            out,
            "'=1+1,+79995550101,-2,'@SUM(A1),\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\",a=b,1.5,'+1+cmd|' /C calc'!A0,'-2+3,'\t=1,+7 (916) 111-22-33\r\n"
        );
    }
}
