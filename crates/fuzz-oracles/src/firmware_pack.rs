//! Firmware packs (cnfkit-firmware): whatever the bytes, an import never panics, never writes
//! outside the library, leaves nothing behind when it refuses the pack, and leaves only loads
//! whose manifests match their images when it takes it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use cnfkit_firmware::Library;

static RUN: AtomicU64 = AtomicU64::new(0);

/// Every file and folder under `dir`, relative.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else { return out };
    for entry in read.flatten() {
        let path = entry.path();
        out.push(path.strip_prefix(dir).unwrap_or(&path).to_owned());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(
                entries(&path).into_iter().map(|p| path.strip_prefix(dir).unwrap_or(&path).join(p)),
            );
        }
    }
    out
}

/// Imports `data` as a pack into a fresh library and checks what it left.
///
/// # Panics
/// When a property fails.
pub fn firmware_pack(data: &[u8]) {
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let scratch = std::env::temp_dir().join(format!("cnfkit-fuzz-fw-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch folder");
    let pack = scratch.join("pack");
    std::fs::write(&pack, data).expect("write the pack");
    let library_dir = scratch.join("lib");
    let library = Library::open(&library_dir).expect("open the library");
    let result = library.import(&pack, None);
    let outside: Vec<PathBuf> = entries(&scratch)
        .into_iter()
        .filter(|p| !p.starts_with("lib") && p != Path::new("pack"))
        .collect();
    assert!(outside.is_empty(), "written outside the library: {outside:?}");
    let left = entries(&library_dir);
    assert!(
        !left.iter().any(|p| p.to_string_lossy().starts_with(".import-")),
        "a staging folder left behind: {left:?}"
    );
    match result {
        Err(_) => assert!(left.is_empty(), "a refused pack left {left:?}"),
        Ok(imported) => {
            let loads = library.loads().expect("list the library");
            assert_eq!(loads.len(), imported.loads.len());
            for load in loads {
                assert!(load.problems.is_empty(), "{}: {:?}", load.name, load.problems);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
