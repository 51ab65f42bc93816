//! The atomic writer's guarantees, each tested the hard way: a writer process killed with
//! SIGKILL at random moments, a full disk (a size-limited tmpfs when the test may mount one, and
//! a writer that fails with ENOSPC everywhere), and racing create-only writers.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use cnfkit_fs::{Error, Install, PendingFile, is_temp_name, remove_stale_temps, write, write_with};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cnfkit-fs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Generation `g` of the test file: a header naming it, then 16 to 144 KiB of bytes that
/// depend on `g`, so a torn or truncated file never passes [`generation_of`].
fn content(g: u64) -> Vec<u8> {
    let len = 16 * 1024 + usize::try_from(g * 7919 % (128 * 1024)).unwrap();
    let mut out = format!("gen {g:010}\n").into_bytes();
    let mut state = g.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    out.extend((0..len).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state.to_le_bytes()[0]
    }));
    out
}

/// The generation a file holds, when it holds one whole.
fn generation_of(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let g = std::str::from_utf8(bytes.get(4..14)?).ok()?.parse().ok()?;
    (bytes == content(g)).then_some(g)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

const CHILD_DIR: &str = "CNFKIT_FS_WRITER_DIR";

/// Replaces `SEP.cnf.xml` with the next generation, keeping `.old`, checking each result.
/// Run by [`kill_9_at_random_moments_leaves_a_whole_file_and_a_whole_backup`] as a child process
/// (endless, until killed); on its own, 40 rounds in this process.
#[test]
fn each_replacement_installs_the_whole_new_file_and_keeps_the_whole_previous_one() {
    let child = std::env::var_os(CHILD_DIR).map(PathBuf::from);
    let dir = child.clone().unwrap_or_else(|| scratch("sequential"));
    let target = dir.join("SEP.cnf.xml");
    let rounds = if child.is_some() { u64::MAX } else { 40 };
    if child.is_none() {
        write(&target, &content(0), Install::Replace).unwrap();
    }
    let start = generation_of(&target).expect("the file starts whole");
    for g in start + 1..start.saturating_add(rounds) {
        let written = write(&target, &content(g), Install::KeepOld).unwrap();
        if child.is_none() {
            assert_eq!(generation_of(&target), Some(g));
            let old = written.backup.expect("a previous file is kept");
            assert_eq!(generation_of(&old), Some(g - 1));
        }
    }
    if child.is_none() {
        assert_eq!(names(&dir), ["SEP.cnf.xml", "SEP.cnf.xml.old"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn kill_9_at_random_moments_leaves_a_whole_file_and_a_whole_backup() {
    let dir = scratch("kill");
    let target = dir.join("SEP.cnf.xml");
    let old = dir.join("SEP.cnf.xml.old");
    write(&target, &content(1), Install::Replace).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = u64::from(std::process::id()) | 1;
    let (mut last, mut temps_seen) = (1, 0);
    for round in 0..40 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "each_replacement_installs_the_whole_new_file_and_keeps_the_whole_previous_one",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(5 + seed % 40));
        child.kill().unwrap(); // SIGKILL: no destructor, no clean-up runs in the child
        child.wait().unwrap();

        let g = generation_of(&target)
            .unwrap_or_else(|| panic!("round {round}: the target is torn: {:?}", names(&dir)));
        assert!(g >= last, "round {round}: generation went back from {last} to {g}");
        if old.exists() {
            let o = generation_of(&old)
                .unwrap_or_else(|| panic!("round {round}: the backup is torn: {:?}", names(&dir)));
            assert!(o <= g, "round {round}: backup {o} newer than the file {g}");
        }
        let leftovers: Vec<String> =
            names(&dir).into_iter().filter(|n| !n.starts_with("SEP.cnf.xml")).collect();
        assert!(leftovers.iter().all(|n| is_temp_name(n)), "round {round}: {leftovers:?}");
        temps_seen += leftovers.len();
        let removed = remove_stale_temps(&dir).unwrap();
        assert_eq!(removed.len(), leftovers.len(), "round {round}");
        last = g;
    }
    assert!(last > 1, "the child never wrote: is the writer test name right?");
    let rest = names(&dir);
    assert!(rest.iter().all(|n| n == "SEP.cnf.xml" || n == "SEP.cnf.xml.old"), "{rest:?}");
    eprintln!("40 kills: reached generation {last}, {temps_seen} stale temporary files removed");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A writer that fails as a full disk does, after some bytes.
fn full_disk(w: &mut dyn io::Write) -> io::Result<()> {
    w.write_all(&[b'x'; 10_000])?;
    Err(io::Error::from(io::ErrorKind::StorageFull))
}

#[test]
fn a_write_failing_with_enospc_leaves_the_target_and_its_backup_untouched() {
    let dir = scratch("enospc");
    let target = dir.join("SEP.cnf.xml");
    write(&target, &content(1), Install::Replace).unwrap();
    write(&target, &content(2), Install::KeepOld).unwrap();
    let err = write_with(&target, Install::KeepOld, full_disk).unwrap_err();
    let Error::Io { path, source } = &err else { panic!("{err:?}") };
    assert_eq!((path.as_path(), source.kind()), (target.as_path(), io::ErrorKind::StorageFull));
    assert_eq!(generation_of(&target), Some(2));
    assert_eq!(generation_of(&dir.join("SEP.cnf.xml.old")), Some(1));
    assert_eq!(names(&dir), ["SEP.cnf.xml", "SEP.cnf.xml.old"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A tmpfs of `size` bytes mounted on a fresh directory, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(name: &str, size: usize) -> Option<Self> {
        let dir = scratch(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Self(dir))
        } else {
            eprintln!(
                "skipped: cannot mount a tmpfs here (not root?); the ENOSPC writer test covers the logic"
            );
            let _ = std::fs::remove_dir_all(&dir);
            None
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn on_a_full_disk_the_file_and_its_backup_stay_whole() {
    let Some(disk) = SmallDisk::mount("tmpfs", 256 * 1024) else { return };
    let target = disk.0.join("SEP.cnf.xml");
    let big = |g: u64| [content(g), vec![0; 240 * 1024]].concat();
    write(&target, &content(1), Install::Replace).unwrap();
    write(&target, &content(2), Install::KeepOld).unwrap();
    // Two files on the disk already; a file larger than the free space cannot be written.
    let err = write(&target, &big(3), Install::KeepOld).unwrap_err();
    let Error::Io { source, .. } = &err else { panic!("{err:?}") };
    assert_eq!(source.kind(), io::ErrorKind::StorageFull, "{err}");
    assert_eq!(generation_of(&target), Some(2));
    assert_eq!(generation_of(&disk.0.join("SEP.cnf.xml.old")), Some(1));
    assert_eq!(names(&disk.0), ["SEP.cnf.xml", "SEP.cnf.xml.old"]);
    // Space comes back once the disk is not full: the next write goes through.
    write(&target, &content(3), Install::KeepOld).unwrap();
    assert_eq!(generation_of(&target), Some(3));
    assert_eq!(generation_of(&disk.0.join("SEP.cnf.xml.old")), Some(2));
}

#[test]
fn of_racing_create_only_writers_exactly_one_wins_and_its_bytes_are_installed() {
    let dir = scratch("race");
    for round in 0..20 {
        let target = dir.join(format!("upload-{round}.bin"));
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8u64)
            .map(|w| {
                let (target, barrier) = (target.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    let mut pending = match PendingFile::create(&target, Install::CreateOnly) {
                        Ok(p) => p,
                        Err(e) => {
                            barrier.wait();
                            return (w, Err(e));
                        }
                    };
                    pending.write_all(&content(100 + w)).unwrap();
                    barrier.wait();
                    (w, pending.commit())
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<u64> =
            results.iter().filter(|(_, r)| r.is_ok()).map(|(w, _)| *w).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .all(|(_, r)| r.as_ref().is_ok() || matches!(r, Err(Error::Exists { .. }))),
            "{results:?}"
        );
        assert_eq!(generation_of(&target), Some(100 + winners[0]));
    }
    assert!(names(&dir).iter().all(|n| !is_temp_name(n)), "{:?}", names(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn the_temporary_file_is_private_and_the_installed_one_keeps_the_old_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("mode");
    let target = dir.join("SEP.cnf.xml");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let pending = PendingFile::create(&target, Install::Replace).unwrap();
    assert_eq!(mode(pending.temp_path()), 0o600);
    assert!(is_temp_name(pending.temp_path().file_name().unwrap().to_str().unwrap()));
    pending.commit().unwrap();
    assert_eq!(mode(&target), 0o644, "a new file gets 0644");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    write(&target, b"x", Install::KeepOld).unwrap();
    assert_eq!(mode(&target), 0o640, "a replaced file keeps its mode");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_abandoned_write_leaves_nothing_and_a_live_writers_temp_is_not_stale() {
    let dir = scratch("abandon");
    let target = dir.join("a.bin");
    let mut pending = PendingFile::create(&target, Install::Replace).unwrap();
    pending.write_all(b"half").unwrap();
    // Ours, and this process is alive: not stale.
    assert!(remove_stale_temps(&dir).unwrap().is_empty());
    drop(pending);
    assert!(names(&dir).is_empty(), "{:?}", names(&dir));
    // A name that only looks close is not ours and is never removed.
    std::fs::write(dir.join(".a.bin.cnfkit-x-1.tmp"), b"keep").unwrap();
    std::fs::write(dir.join("a.bin.cnfkit-1-1.tmp"), b"keep").unwrap();
    assert!(remove_stale_temps(&dir).unwrap().is_empty());
    assert_eq!(names(&dir).len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_read_only_directory_is_an_error_and_the_original_stays() {
    let Some(disk) = SmallDisk::mount("ro", 64 * 1024) else { return };
    let target = disk.0.join("SEP.cnf.xml");
    write(&target, &content(1), Install::Replace).unwrap();
    // Root ignores permission bits: a read-only file system it is.
    let remounted = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&disk.0)
        .status()
        .is_ok_and(|s| s.success());
    assert!(remounted, "remount read-only");
    let err = write(&target, &content(2), Install::KeepOld).unwrap_err();
    let Error::Io { source, .. } = &err else { panic!("{err:?}") };
    assert_eq!(source.kind(), io::ErrorKind::ReadOnlyFilesystem, "{err}");
    assert_eq!(generation_of(&target), Some(1));
    assert_eq!(names(&disk.0), ["SEP.cnf.xml"]);
}

#[test]
fn an_unlocked_temp_is_stale_whatever_pid_it_names_even_ours() {
    // A server restarted in a container can get the process id its killed predecessor had.
    let dir = scratch("own-pid");
    let leftover = dir.join(format!(".a.bin.cnfkit-{}-999999.tmp", std::process::id()));
    std::fs::write(&leftover, b"half").unwrap();
    let live = PendingFile::create(&dir.join("b.bin"), Install::Replace).unwrap();
    assert_eq!(remove_stale_temps(&dir).unwrap(), std::slice::from_ref(&leftover));
    assert!(!leftover.exists());
    assert!(live.temp_path().exists(), "a write in progress holds its lock");
    drop(live);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_secret_is_installed_0600_and_a_symlinked_target_stays_a_link() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = scratch("secret");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let plain = dir.join("SEP001122334455.cnf.xml");
    let mut pending = PendingFile::create(&plain, Install::Replace).unwrap().mode(0o600);
    pending.write_all(b"<device><sshPassword>x</sshPassword></device>").unwrap();
    pending.commit().unwrap();
    assert_eq!(mode(&plain), 0o600);

    let real = dir.join("real.cnf.xml");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.join("XMLDefault.cnf.xml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let written = write(&link, b"new", Install::KeepOld).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&real).unwrap(), b"new");
    assert_eq!(written.backup, Some(dir.join("real.cnf.xml.old")));
    assert_eq!(std::fs::read(dir.join("real.cnf.xml.old")).unwrap(), b"old");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn a_replaced_file_keeps_its_owner_when_root_writes_it() {
    use std::os::unix::fs::MetadataExt as _;
    let dir = scratch("owner");
    let file = dir.join("SEP001122334455.cnf.xml");
    std::fs::write(&file, b"old").unwrap();
    if std::os::unix::fs::chown(&file, Some(4242), Some(4343)).is_err() {
        eprintln!("skipped: not root, so no file can be given away (and none is)");
        return;
    }
    write(&file, b"new", Install::KeepOld).unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A commit sweeps the stale temporary files of its target. A writer racing it, whose file has
/// just been created, is never taken for a dead one: every replacement succeeds, whatever the
/// interleaving (a writer locks its file, then checks that the name is still its file; the
/// sweeper removes a file only while holding its lock).
#[test]
fn replacing_writers_racing_each_others_sweep_of_stale_temps_all_succeed() {
    let dir = scratch("sweep-race");
    let target = dir.join("SEP001122334455.cnf.xml");
    write(&target, &content(0), Install::Replace).unwrap();
    let writers = 8u64;
    let barrier = Arc::new(Barrier::new(usize::try_from(writers).unwrap()));
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let (target, barrier) = (target.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let install = if w % 2 == 0 { Install::KeepOld } else { Install::Replace };
                (0..300u64)
                    .map(|i| write(&target, &content(1 + w * 1000 + i % 4), install))
                    .filter_map(Result::err)
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let failures: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    assert!(failures.is_empty(), "{} failed writes, first: {:?}", failures.len(), failures.first());
    assert!(generation_of(&target).is_some());
    assert!(generation_of(&dir.join("SEP001122334455.cnf.xml.old")).is_some());
    assert!(names(&dir).iter().all(|n| !is_temp_name(n)), "{:?}", names(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_write_keeping_the_old_file_removes_what_a_killed_writer_left_of_the_backup_too() {
    // A run killed while it staged `a.xml.old` leaves `.a.xml.old.cnfkit-<pid>-<n>.tmp`: the
    // next write of `a.xml` that makes a backup removes it, as it removes its own leftovers.
    let dir = scratch("backup-leftover");
    let target = dir.join("a.xml");
    std::fs::write(&target, b"v1").unwrap();
    let leftover = dir.join(".a.xml.old.cnfkit-4835-1.tmp");
    std::fs::write(&leftover, b"half a backup").unwrap();
    write_with(&target, Install::KeepOld, |out| out.write_all(b"v2")).unwrap();
    assert!(!leftover.exists(), "the backup's stale temporary file is gone");
    assert_eq!(std::fs::read(dir.join("a.xml.old")).unwrap(), b"v1");
    std::fs::remove_dir_all(&dir).unwrap();
}
