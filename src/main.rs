fn main() {
    println!("collapse-lab {}", env!("CARGO_PKG_VERSION"));
}
