//! The embedded demo tree: what `cnf-server` serves with no `--root`, so that the server and
//! `phone-sim` work on a fresh machine with nothing to prepare.
//!
//! Everything here is sample data; nothing in the server's core depends on it.

use cnfkit_config::{CallManagerSpec, MacCase, PhoneRecord, build_device};
use cnfkit_resolve::{DeviceDefaults, Inventory, InventoryGenerator, MemoryDirectory, Resolver};

use crate::Error;

/// The load the demo tree offers 7942 phones (its `.loads` manifest and images are in the tree).
pub const LOAD_7942: &str = "SCCP42.9-4-2SR3-1S";

/// The load the demo defaults name for 8845 phones (not in the tree: a phone told to run it
/// reports the missing manifest).
pub const LOAD_8845: &str = "sip8845_65.14-2-1-0001-14";

/// The MAC of the demo 7942 whose `SEP<MAC>.cnf.xml` is in the tree.
pub const MAC_7942: &str = "001122334455";

/// The MAC of the demo 8845 whose configuration is generated from the demo inventory.
pub const MAC_8845: &str = "0011223344AA";

/// The images the demo `.loads` manifests list, 64 KiB each.
pub const IMAGES_7942: [&str; 4] = [
    "jar42sccp.9-4-2SR3-1S.sbn",
    "apps42.9-4-2SR3-1S.sbn",
    "cnu42.9-4-2SR3-1S.sbn",
    "dsp42.9-4-2SR3-1S.sbn",
];

/// A 1 MiB file for trying throughput.
pub const LARGE_FILE: &str = "demo-1MiB.bin";

/// A resolver over an in-memory demo tree: a generated `XMLDefault.cnf.xml` whose call manager
/// is `call_manager`, the 7942's `SEP<MAC>.cnf.xml` in the tree, the 8845's generated from an
/// inventory, a `.loads` manifest with small images (also as `term42.default.loads`), and
/// [`LARGE_FILE`]. The default is not written back (the tree is memory).
///
/// ```
/// use cnfkit_resolve::Answer;
/// let resolver = cnfkit_server::demo::resolver("127.0.0.1")?;
/// assert_eq!(resolver.resolve(b"XMLDefault.cnf.xml").label(), "exact");
/// assert_eq!(resolver.resolve(b"SEP0011223344AA.cnf.xml").label(), "inventory");
/// assert!(matches!(resolver.resolve(b"SEPFFFFFFFFFFFF.cnf.xml"), Answer::NotFound { .. }));
/// # Ok::<(), cnfkit_server::Error>(())
/// ```
///
/// # Errors
/// [`Error::Config`] when `call_manager` cannot stand in a configuration (more than 50
/// characters, or characters XML cannot carry).
pub fn resolver(call_manager: &str) -> Result<Resolver<MemoryDirectory>, Error> {
    let defaults = DeviceDefaults {
        call_managers: vec![call_manager.to_owned()],
        loads: [
            ("7942".to_owned(), LOAD_7942.to_owned()),
            ("8845".to_owned(), LOAD_8845.to_owned()),
        ]
        .into_iter()
        .collect(),
        ..DeviceDefaults::default()
    };
    let inventory = Inventory::parse_csv(&format!(
        "mac,model,protocol,lines,label\n{MAC_8845},8845,SIP,1001:Reception,Reception\n"
    ))?;
    let tree = MemoryDirectory::new();
    tree.insert("XMLDefault.cnf.xml", defaults.xml_default()?);
    let record = PhoneRecord {
        mac: MAC_7942.parse()?,
        model: "7942".into(),
        load: Some(LOAD_7942.into()),
        call_managers: vec![CallManagerSpec::new(call_manager)],
        ..PhoneRecord::default()
    };
    let (sep_name, sep) = build_device(&record, MacCase::Upper)?;
    tree.insert(&sep_name, sep.into_bytes());
    let manifest: String = IMAGES_7942.iter().map(|image| format!("{image}\r\n")).collect();
    tree.insert(&format!("{LOAD_7942}.loads"), manifest.clone().into_bytes());
    tree.insert("term42.default.loads", manifest.into_bytes());
    for (seed, image) in (1..).zip(IMAGES_7942) {
        tree.insert(image, filler(64 * 1024, seed));
    }
    tree.insert(LARGE_FILE, filler(1 << 20, 42));
    Ok(Resolver::new(tree)
        .with_generator(InventoryGenerator::new(inventory, defaults))
        .write_back_default(false))
}

/// Deterministic filler bytes (xorshift64), so a client can check what it received.
fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}
