//! The switchboard binary. See README.md.
fn main() {
    println!("switchboard {}", env!("CARGO_PKG_VERSION"));
}
