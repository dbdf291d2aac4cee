//! Fuzz the dialplan parser: any text gives a file or a diagnostic, never a panic, and a
//! parsed file pretty-prints to text that parses again.
//! Run: `cargo +nightly fuzz run ivr_source` from `fuzz/`; seed with `dialplans/*.ivr`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_ivr::parser::parse_file;
use switchboard_ivr::printer::print_file;
use switchboard_ivr::source::FileId;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = parse_file(FileId(0), src) {
        let printed = print_file(&file);
        parse_file(FileId(0), &printed).expect("pretty-printed dialplan parses");
    }
});
