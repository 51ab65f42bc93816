//! `cnf-server`: a TFTP, HTTP and HTTPS provisioning server for Cisco IP phones, the same
//! program `cargo install cnfkit-server` installs (`cnfkit_server::cli`).
//!
//! ```text
//! cargo run --release --example cnf-server    # demo tree: TFTP 127.0.0.1:6969, HTTP :6970, admin :6980
//! cargo run --release --example cnf-server -- --root /srv/tftp --bind 0.0.0.0:69 \
//!     --inventory phones.csv --defaults defaults.toml [--sign-key tftp.pem --sign-cert tftp.pem]
//! cargo run --release --example cnf-server -- check --config /etc/cnfkit/server.toml
//! ```

fn main() -> std::process::ExitCode {
    cnfkit::server::cli::main()
}
