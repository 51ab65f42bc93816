//! "Nothing is ever half-written": every way a write can fail leaves the original file
//! exactly as it was, and no temporary file behind.
#![cfg(feature = "fs")]

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use cnfkit_repack::{Error, Step, write_replacing, write_with};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cnfkit-atomic-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const OLD: &[u8] = b"<device><loadInformation>OLD</loadInformation></device>\n";
const NEW: &[u8] = b"<device><loadInformation>NEW</loadInformation></device>\n";

#[test]
fn a_replaced_file_keeps_the_previous_content_as_dot_old() {
    let dir = scratch("old");
    let f = dir.join("SEP001122334455.cnf.xml.sgn");
    std::fs::write(&f, OLD).unwrap();
    let r = write_replacing(&f, NEW).unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), NEW);
    assert_eq!(r.backup.as_deref(), Some(dir.join("SEP001122334455.cnf.xml.sgn.old").as_path()));
    assert_eq!(std::fs::read(r.backup.unwrap()).unwrap(), OLD);
    // A second repack replaces the backup with the content it replaced.
    write_replacing(&f, b"third").unwrap();
    assert_eq!(std::fs::read(dir.join("SEP001122334455.cnf.xml.sgn.old")).unwrap(), NEW);
    assert_eq!(entries(&dir), ["SEP001122334455.cnf.xml.sgn", "SEP001122334455.cnf.xml.sgn.old"]);
}

#[test]
fn a_writer_error_midway_leaves_the_original_and_no_temporary_file() {
    let dir = scratch("writer");
    let f = dir.join("SEP001122334455.cnf.xml");
    std::fs::write(&f, OLD).unwrap();
    let err = write_with(
        &f,
        true,
        |w: &mut dyn Write| {
            w.write_all(&NEW[..10])?;
            Err(io::Error::from_raw_os_error(28)) // ENOSPC, as a full disk reports it
        },
        None,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("SEP001122334455.cnf.xml"), "{err}");
    assert_eq!(std::fs::read(&f).unwrap(), OLD);
    assert_eq!(entries(&dir), ["SEP001122334455.cnf.xml"]);
}

#[test]
fn a_crash_at_any_step_leaves_either_the_old_or_the_new_file_whole() {
    for step in [Step::TempWritten, Step::BackupMade, Step::Renamed] {
        let dir = scratch(&format!("crash-{step:?}"));
        let f = dir.join("XMLDefault.cnf.xml");
        std::fs::write(&f, OLD).unwrap();
        let _ = write_with(&f, true, |w: &mut dyn Write| w.write_all(NEW), Some(step));
        let now = std::fs::read(&f).unwrap();
        assert!(now == OLD || now == NEW, "{step:?}: target is whole");
        if step == Step::Renamed {
            assert_eq!(now, NEW);
        } else {
            assert_eq!(now, OLD, "{step:?}: the target changes only by the rename");
        }
        // The next run succeeds whatever the crash left behind.
        write_replacing(&f, b"after").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"after");
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Mounts a tmpfs with `opts`; `None` when this machine does not allow it.
fn tmpfs(dir: &Path, opts: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(dir.to_path_buf()))
}

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_filesystem_leaves_the_original_untouched() {
    let dir = scratch("full");
    if !is_root() {
        eprintln!(
            "SKIP: mounting a tiny tmpfs needs root; the injected ENOSPC test covers this path"
        );
        return;
    }
    let Some(_m) = tmpfs(&dir, "size=16k") else {
        eprintln!(
            "SKIP: this machine does not allow mounting a tmpfs; the injected ENOSPC test covers this path"
        );
        return;
    };
    let f = dir.join("SEP001122334455.cnf.xml");
    std::fs::write(&f, OLD).unwrap();
    let big = vec![b'x'; 64 * 1024];
    let err = write_replacing(&f, &big).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(std::fs::read(&f).unwrap(), OLD);
    assert_eq!(entries(&dir), ["SEP001122334455.cnf.xml"]);
}

#[test]
fn a_read_only_directory_is_an_error_and_the_original_stays() {
    let dir = scratch("ro");
    let f = dir.join("SEP001122334455.cnf.xml");
    let _mount;
    if is_root() {
        // Root ignores permission bits: use a read-only filesystem instead.
        let Some(m) = tmpfs(&dir, "size=64k") else {
            eprintln!("SKIP: root without mount permission cannot make a read-only directory");
            return;
        };
        std::fs::write(&f, OLD).unwrap();
        let remounted = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(remounted, "remount read-only");
        _mount = m;
    } else {
        std::fs::write(&f, OLD).unwrap();
        let mut p = std::fs::metadata(&dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o555);
        std::fs::set_permissions(&dir, p).unwrap();
    }
    let err = write_replacing(&f, NEW).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    assert_eq!(std::fs::read(&f).unwrap(), OLD);
    assert_eq!(entries(&dir), ["SEP001122334455.cnf.xml"]);
}
