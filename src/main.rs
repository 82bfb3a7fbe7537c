//! The `houseband` binary; everything lives in the library crate.

fn main() {
    std::process::exit(houseband::cli::main());
}
