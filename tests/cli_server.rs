//! `cnf-server` start-up as a user meets it: bad input is exit 2 with a message that says what to
//! do, before any socket is bound.

use std::path::Path;
use std::process::Command;

fn cnf_server() -> Command {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    Command::new(dir.join("examples").join(format!("cnf-server{}", std::env::consts::EXE_SUFFIX)))
}

#[test]
fn an_inventory_without_defaults_on_a_wildcard_address_is_refused() {
    let root = std::env::temp_dir().join(format!("cnf-server-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let inventory = root.join("phones.csv");
    std::fs::write(&inventory, "mac,model\n001122334455,7942\n").unwrap();
    let out = cnf_server()
        .arg("--root")
        .arg(&root)
        .arg("--inventory")
        .arg(&inventory)
        .args(["--bind", "0.0.0.0:0"])
        .output()
        .expect("cnf-server is built");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("give --defaults with call_managers"), "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_root_that_does_not_exist_is_exit_2_naming_it() {
    let out = cnf_server()
        .args(["--root", "/nonexistent/tftpboot", "--bind", "127.0.0.1:0"])
        .output()
        .expect("cnf-server is built");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/tftpboot"), "{stderr}");
}
