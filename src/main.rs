fn main() {
    println!("smsgw: see --help (the gateway itself arrives with issue 4)");
}
