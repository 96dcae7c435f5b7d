//! The `smsgw` binary: command-line entry point (the gateway itself arrives with issue 4).

fn main() {
    println!("smsgw: see --help (the gateway itself arrives with issue 4)");
}
