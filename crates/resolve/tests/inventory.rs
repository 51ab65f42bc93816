//! Inventory CSV and device defaults TOML, as cnf-server's `--inventory` and `--defaults` read them.

use cnfkit_config::CnfDocument;
use cnfkit_resolve::{
    Answer, DeviceDefaults, Error, Inventory, InventoryGenerator, MemoryDirectory, Resolver,
};

const CSV: &str = "\
mac,model,protocol,description,lines,load,call_managers,vendor:webAccess
001122AABBCC,7942,SCCP,Reception,,SCCP42.9-4-2SR3-1S,,1
00:11:22:aa:bb:dd,CP-8845,SIP,\"Lab, desk 2\",100:Alice;101:Bob,,pbx.example,
";

#[test]
fn csv_rows_become_records_with_lines_vendor_config_and_quoted_commas() {
    let inventory = Inventory::parse_csv(CSV).unwrap();
    assert_eq!(inventory.len(), 2);
    let reception = inventory.get(&"001122AABBCC".parse().unwrap()).unwrap();
    assert_eq!(reception.load.as_deref(), Some("SCCP42.9-4-2SR3-1S"));
    assert_eq!(reception.vendor_config, [("webAccess".to_owned(), "1".to_owned())]);
    let lab = inventory.get(&"001122AABBDD".parse().unwrap()).unwrap();
    assert_eq!(lab.phone_label.as_deref(), Some("Lab, desk 2"));
    assert_eq!(lab.lines.len(), 2);
    assert_eq!(lab.lines[1].number, "101");
    assert_eq!(lab.call_managers[0].host, "pbx.example");
}

#[test]
fn every_bad_row_is_reported_with_its_line_none_skipped() {
    let csv = "mac,model,protocol\nnot-a-mac,7942,SCCP\n001122AABBCC,,SCCP\n001122AABBCD,7942,H323\n001122AABBCE,7942\n001122AABBCF,7942,SIP\n001122AABBCF,7942,SIP\n";
    let Err(Error::BadInventory { problems }) = Inventory::parse_csv(csv) else { panic!() };
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 7]);
    let message = Inventory::parse_csv(csv).unwrap_err().to_string();
    assert!(message.contains("line 2: \"not-a-mac\" is not a MAC address"), "{message}");
    assert!(message.contains("line 7: MAC 001122AABBCF appears twice"), "{message}");
}

/// RFC 4180 section 2, rule 6: a quoted field may hold a line break; spreadsheet exports start
/// with a UTF-8 byte order mark. Problems after such a row still name their own line.
#[test]
fn a_quoted_field_may_span_lines_and_a_spreadsheet_bom_is_dropped() {
    let csv = "\u{feff}mac,model,description\n# a comment\n001122AABBCC,7942,\"Front desk\nby the door\"\n\n   \nnot-a-mac,7942,x\n";
    let Err(Error::BadInventory { problems }) = Inventory::parse_csv(csv) else { panic!() };
    assert_eq!(problems.iter().map(|p| p.line).collect::<Vec<_>>(), [7]);
    let fixed = csv.replace("not-a-mac", "001122AABBCD");
    let inventory = Inventory::parse_csv(&fixed).unwrap();
    let desk = inventory.get(&"001122AABBCC".parse().unwrap()).unwrap();
    assert_eq!(desk.phone_label.as_deref(), Some("Front desk\nby the door"));
    assert_eq!(inventory.len(), 2);
}

#[test]
fn unknown_columns_and_missing_required_columns_are_errors() {
    assert!(Inventory::parse_csv("mac,model,colour\n001122AABBCC,7942,red\n").is_err());
    assert!(Inventory::parse_csv("mac,protocol\n001122AABBCC,SIP\n").is_err());
    assert!(Inventory::parse_csv("").is_err());
}

#[test]
fn defaults_build_an_xmldefault_that_parses_back_with_its_loads() {
    let defaults = DeviceDefaults::parse_toml(
        "call_managers = [\"10.0.0.1\"]\n[loads]\n434 = \"SCCP42.9-4-2SR3-1S\"\n\"7961\" = \"SCCP41.9-4-2SR3-1S\"\n",
    )
    .unwrap();
    let doc = CnfDocument::parse(&defaults.xml_default().unwrap()).unwrap();
    assert_eq!(doc.firmware().for_model("7942").unwrap().load, "SCCP42.9-4-2SR3-1S");
    assert_eq!(doc.firmware().for_model("7961").unwrap().load, "SCCP41.9-4-2SR3-1S");
    assert_eq!(defaults.load_for_model("CP-7942G"), Some("SCCP42.9-4-2SR3-1S"));
}

#[test]
fn bad_defaults_say_what_is_wrong() {
    let err = DeviceDefaults::parse_toml("call_managers = 3").unwrap_err();
    assert!(err.to_string().contains("bad device defaults"), "{err}");
    let err = DeviceDefaults::parse_toml("call_managers = []\ncolour = 1").unwrap_err();
    assert!(err.to_string().contains("colour"), "{err}");
    let defaults =
        DeviceDefaults::parse_toml("call_managers = [\"a\"]\n[loads]\nnokia = \"x\"\n").unwrap();
    assert!(defaults.xml_default().unwrap_err().to_string().contains("nokia"));
}

#[test]
fn the_generator_serves_inventoried_phones_and_rebuilds_the_default() {
    let generator = InventoryGenerator::new(
        Inventory::parse_csv(CSV).unwrap(),
        DeviceDefaults::parse_toml(
            "call_managers = [\"10.0.0.1\"]\n[loads]\n36224 = \"sip8845_65.14-2-1-0001-14\"\n",
        )
        .unwrap(),
    );
    let resolver = Resolver::new(MemoryDirectory::new()).with_generator(generator);
    let Answer::Generated { bytes, .. } = resolver.resolve(b"SEP001122AABBCC.cnf.xml") else {
        panic!()
    };
    let doc = CnfDocument::parse(&bytes).unwrap();
    let group = doc.call_manager_group().unwrap();
    assert_eq!(
        group.members[0].process_node_name.as_deref(),
        Some("10.0.0.1"),
        "from the defaults"
    );
    assert_eq!(doc.firmware().plain().unwrap().load, "SCCP42.9-4-2SR3-1S", "from the record");
    let Answer::Generated { bytes, .. } = resolver.resolve(b"SEP001122AABBDD.cnf.xml") else {
        panic!()
    };
    let doc = CnfDocument::parse(&bytes).unwrap();
    assert_eq!(
        doc.firmware().plain().unwrap().load,
        "sip8845_65.14-2-1-0001-14",
        "defaults by device type"
    );
    assert!(matches!(resolver.resolve(b"SEP0011223344FF.cnf.xml"), Answer::NotFound { .. }));
    assert_eq!(resolver.resolve(b"XMLDefault.cnf.xml").label(), "rebuilt");
}

/// A staged rollout in the defaults: the chosen share by MAC, the same after a restart, and a
/// halt once more than `halt-percent` of the settled moved phones failed (not before
/// `halt-min` of them settled).
#[test]
fn a_rollout_chooses_its_share_by_mac_stably_and_halts_past_its_threshold() {
    use cnfkit_resolve::{Mac, Rollouts, Settled};
    let defaults = DeviceDefaults::parse_toml(
        "call_managers = [\"10.0.0.1\"]\n[rollouts.\"7942\"]\nfrom = \"SCCP42.9-4-2SR3-1S\"\nto = \"SCCP42.9-4-2SR4-3S\"\npercent = 25\nhalt-min = 10\n",
    )
    .unwrap();
    let rollout = &defaults.rollouts["7942"];
    assert_eq!((rollout.percent, rollout.halt_percent, rollout.halt_min), (25, 10, 10));
    let macs: Vec<Mac> = (0..400u16)
        .map(u16::to_be_bytes)
        .map(|[hi, lo]| Mac([0, 0x11, 0x22, 0x33, hi, lo]))
        .collect();
    let rollouts = Rollouts::new(&defaults.rollouts);
    let lot: Vec<&str> = macs.iter().map(|m| rollouts.load_for("CP-7942G", *m).unwrap()).collect();
    let moved: Vec<Mac> =
        macs.iter().zip(&lot).filter(|(_, l)| l.ends_with("SR4-3S")).map(|(m, _)| *m).collect();
    assert!((60..=140).contains(&moved.len()), "about a quarter of 400: {}", moved.len());
    let restarted = Rollouts::new(&defaults.rollouts);
    assert!(macs.iter().zip(&lot).all(|(m, l)| restarted.load_for("7942", *m) == Some(*l)));
    assert_eq!(rollouts.load_for("8845", macs[0]), None, "another model: no rollout");

    // 9 settled, 5 failed: not judged yet (halt-min 10). 10 settled, 1 failed: 10 %, not past it.
    let to = "SCCP42.9-4-2SR4-3S";
    let outcomes =
        |failed: usize, booted: usize| {
            moved.iter().enumerate().take(failed + booted).map(move |(i, m)| {
                (*m, to, if i < failed { Settled::Failed } else { Settled::Booted })
            })
        };
    assert!(rollouts.judge(outcomes(5, 4)).is_empty());
    assert!(rollouts.judge(outcomes(1, 9)).is_empty());
    let halted = rollouts.judge(outcomes(2, 9));
    assert_eq!(halted.len(), 1, "2 of 11 failed: past 10 %");
    assert!(rollouts.status()[0].halted);
    // After the halt the booted moved phones keep the new load, every other phone the old one.
    let kept = moved[5];
    assert_eq!(rollouts.load_for("7942", kept), Some(to));
    assert_eq!(
        rollouts.load_for("7942", moved[0]),
        Some("SCCP42.9-4-2SR3-1S"),
        "a failed one goes back"
    );
    let not_moved = macs.iter().zip(&lot).find(|(_, l)| !l.ends_with("SR4-3S")).unwrap().0;
    assert_eq!(rollouts.load_for("7942", *not_moved), Some("SCCP42.9-4-2SR3-1S"));
}
