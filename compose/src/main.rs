fn main() {
    std::process::exit(berth_compose::cli::main());
}
