//! `cnf-server`: a provisioning server for Cisco IP phones (`cnf-server --help`).

fn main() -> std::process::ExitCode {
    cnfkit_server::cli::main()
}
