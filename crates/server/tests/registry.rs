//! The phone registry, from boot sequences: what a phone asked for decides the state an admin
//! sees. Virtual clock (milliseconds), no network.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use cnfkit_resolve::{Mac, Transport};
use cnfkit_server::registry::{
    AnswerKind, ConfigSource, Phone, PhoneKey, PhoneState, Registry, RegistryLimits, RequestSeen,
};

use AnswerKind::{Exact, NotFound};

/// A phone (or a NAT'd crowd of them) asking over TFTP.
struct Client {
    peer: SocketAddr,
}

impl Client {
    fn at(ip: [u8; 4]) -> Self {
        Self { peer: SocketAddr::new(IpAddr::from(ip), 40000) }
    }

    /// Asks for `name`; a served file's transfer ends at once, complete.
    fn ask(&mut self, registry: &mut Registry, now: u64, name: &str, answer: AnswerKind) {
        // Phones send every request from a new port.
        self.peer.set_port(self.peer.port().wrapping_add(1).max(1024));
        registry.record(now, &RequestSeen::new(self.peer, name, answer, Transport::Tftp));
        if answer.served() {
            registry.transfer_ended(now + 5, self.peer, 1000, Duration::from_millis(5), 0, true);
        }
    }
}

fn mac(i: u32) -> Mac {
    let [_, b, c, d] = i.to_be_bytes();
    Mac([0x00, 0x11, 0x22, b, c, d])
}

fn settled(registry: &mut Registry, now: u64) {
    registry.tick(now + 60_000);
}

fn phone(registry: &Registry, i: u32) -> &Phone {
    registry.phone_by_mac(mac(i)).expect("a record keyed by the phone's MAC")
}

const LOAD: &str = "SCCP42.9-4-2SR4-3S";

/// A 7942's boot: its trust lists, its own file (or the default), its manifest and images.
fn boot(
    registry: &mut Registry,
    client: &mut Client,
    t: u64,
    i: u32,
    own: bool,
    image2: AnswerKind,
) {
    let m = mac(i);
    client.ask(registry, t, &format!("CTLSEP{m}.tlv"), NotFound);
    client.ask(registry, t + 10, &format!("ITLSEP{m}.tlv"), NotFound);
    client.ask(registry, t + 20, "ITLFile.tlv", NotFound);
    if own {
        client.ask(registry, t + 30, &format!("SEP{m}.cnf.xml"), Exact);
    } else {
        client.ask(registry, t + 30, &format!("SEP{m}.cnf.xml"), NotFound);
        client.ask(registry, t + 40, "XMLDefault.cnf.xml", Exact);
    }
    client.ask(registry, t + 50, &format!("{LOAD}.loads"), Exact);
    client.ask(registry, t + 60, "apps42.9-4-2ES26.sbn", Exact);
    client.ask(registry, t + 70, "cnu42.9-4-2ES26.sbn", image2);
}

#[test]
fn a_phone_with_its_own_config_and_firmware_is_booted() {
    let mut registry = Registry::new(RegistryLimits::default());
    let mut client = Client::at([10, 0, 0, 5]);
    boot(&mut registry, &mut client, 0, 1, true, Exact);
    assert_eq!(phone(&registry, 1).state, PhoneState::FetchingFirmware, "while it downloads");
    settled(&mut registry, 100);
    let p = phone(&registry, 1);
    assert_eq!(p.state, PhoneState::Booted);
    let config = p.config.as_ref().unwrap();
    assert_eq!(
        (config.name.as_str(), config.source),
        ("SEP001122000001.cnf.xml", ConfigSource::Own)
    );
    assert_eq!(p.load.as_deref(), Some(LOAD));
    assert_eq!(p.family.as_deref(), Some("SCCP42"));
    assert_eq!(p.requests.len(), 7, "the MAC-less ITLFile, manifest and images are its own");
    assert!(
        p.requests
            .iter()
            .filter(|r| r.answer.served())
            .all(|r| r.completed == Some(true) && r.bytes == 1000)
    );
    assert_eq!(registry.len(), 1, "no record for the address alone");
}

#[test]
fn a_phone_whose_own_file_is_missing_fell_back_to_the_default() {
    let mut registry = Registry::new(RegistryLimits::default());
    boot(&mut registry, &mut Client::at([10, 0, 0, 5]), 0, 1, false, Exact);
    settled(&mut registry, 100);
    let p = phone(&registry, 1);
    assert_eq!(p.state, PhoneState::FellBack);
    assert_eq!(p.config.as_ref().unwrap().source, ConfigSource::Default);
}

#[test]
fn a_phone_asking_for_an_image_the_server_lacks_is_stuck_and_the_image_named() {
    let mut registry = Registry::new(RegistryLimits::default());
    boot(&mut registry, &mut Client::at([10, 0, 0, 5]), 0, 1, true, NotFound);
    settled(&mut registry, 100);
    let p = phone(&registry, 1);
    assert!(matches!(&p.state, PhoneState::Stuck(_)), "{:?}", p.state);
    let why = p.reason().unwrap();
    assert!(why.contains("cnu42.9-4-2ES26.sbn") && why.contains(LOAD), "{why}");
}

#[test]
fn a_missing_manifest_is_named() {
    let mut registry = Registry::new(RegistryLimits::default());
    let mut client = Client::at([10, 0, 0, 5]);
    client.ask(&mut registry, 0, "SEP001122000001.cnf.xml", Exact);
    client.ask(&mut registry, 10, "SCCP42.9-9-9.loads", NotFound);
    settled(&mut registry, 10);
    assert!(phone(&registry, 1).reason().unwrap().contains("SCCP42.9-9-9.loads"));
}

#[test]
fn a_phone_looping_on_xmldefault_is_stuck_repeating_its_boot_after_three_boots() {
    let mut registry = Registry::new(RegistryLimits::default());
    let mut client = Client::at([10, 0, 0, 5]);
    let mut t = 0;
    for boots in 1..=3 {
        client.ask(&mut registry, t, "SEP001122000001.cnf.xml", NotFound);
        client.ask(&mut registry, t + 10, "XMLDefault.cnf.xml", Exact);
        settled(&mut registry, t + 10);
        let p = phone(&registry, 1);
        assert_eq!(p.boots, boots);
        if boots < 3 {
            assert_eq!(p.state, PhoneState::FellBack, "boot {boots}: a reboot is not a loop yet");
        } else {
            let why = p.reason().unwrap_or_else(|| panic!("{:?}", p.state));
            assert!(why.contains("3 times") && why.contains("XMLDefault.cnf.xml"), "{why}");
        }
        t += 120_000;
    }
    // A different boot ends the loop.
    client.ask(&mut registry, t, "SEP001122000001.cnf.xml", Exact);
    settled(&mut registry, t);
    assert_eq!(phone(&registry, 1).state, PhoneState::Booted);
}

#[test]
fn boots_an_hour_apart_are_not_a_loop() {
    let mut registry = Registry::new(RegistryLimits::default());
    let mut client = Client::at([10, 0, 0, 5]);
    for boot in 0..4 {
        let t = boot * 3_600_000;
        client.ask(&mut registry, t, "SEP001122000001.cnf.xml", NotFound);
        client.ask(&mut registry, t + 10, "XMLDefault.cnf.xml", Exact);
        settled(&mut registry, t + 10);
    }
    assert_eq!(phone(&registry, 1).state, PhoneState::FellBack);
}

#[test]
fn a_transfer_that_failed_leaves_the_phone_failed_and_says_which() {
    let mut registry = Registry::new(RegistryLimits::default());
    let peer: SocketAddr = "10.0.0.5:50001".parse().unwrap();
    registry.record(0, &RequestSeen::new(peer, "SEP001122000001.cnf.xml", Exact, Transport::Tftp));
    settled(&mut registry, 0);
    assert_eq!(phone(&registry, 1).state, PhoneState::Booting, "its transfer still runs");
    registry.transfer_ended(30_000, peer, 2936, Duration::from_secs(30), 5, false);
    settled(&mut registry, 30_000);
    let p = phone(&registry, 1);
    assert!(p.reason().unwrap().contains("SEP001122000001.cnf.xml"), "{:?}", p.state);
    assert_eq!(p.requests[0].retransmits, 5);
}

#[test]
fn a_phone_that_got_no_configuration_failed() {
    let mut registry = Registry::new(RegistryLimits::default());
    let mut client = Client::at([10, 0, 0, 5]);
    client.ask(&mut registry, 0, "SEP001122000001.cnf.xml", NotFound);
    client.ask(&mut registry, 10, "XMLDefault.cnf.xml", NotFound);
    settled(&mut registry, 10);
    let why = phone(&registry, 1).reason().unwrap().to_owned();
    assert!(why.contains("SEP001122000001.cnf.xml") && why.contains("XMLDefault.cnf.xml"), "{why}");
}

#[test]
fn requests_before_the_phone_names_itself_join_its_record() {
    let mut registry = Registry::new(RegistryLimits::default());
    let mut client = Client::at([10, 0, 0, 5]);
    client.ask(&mut registry, 0, "CTLFile.tlv", NotFound);
    assert!(registry.phone(PhoneKey::Address("10.0.0.5".parse().unwrap())).is_some());
    client.ask(&mut registry, 10, "SEP001122000001.cnf.xml", Exact);
    assert_eq!(registry.len(), 1);
    assert_eq!(&*phone(&registry, 1).requests[0].name, "CTLFile.tlv");
}

#[test]
fn a_thousand_phones_behind_one_address_are_a_thousand_records_each_with_its_own_steps() {
    // A branch office behind NAT, booting in lockstep: every phone's trust list, then every
    // phone's own file, the defaults, the manifests, the images. The even phones have their
    // own file and run load A; the odd ones fall back to the default, which names load B,
    // whose second image the server lacks.
    let mut registry = Registry::new(RegistryLimits::default());
    registry.learn_manifest("SCCP42.A", ["appsA.sbn".into(), "cnuA.sbn".into()]);
    registry.learn_manifest("SCCP42.B", ["appsB.sbn".into(), "cnuB.sbn".into()]);
    registry.learn_config("XMLDefault.cnf.xml", vec!["SCCP41.C".into(), "SCCP42.B".into()]);
    for i in (0..1000).step_by(2) {
        registry.learn_config(&format!("SEP{}.cnf.xml", mac(i)), vec!["SCCP42.A".into()]);
    }
    let mut client = Client::at([192, 0, 2, 1]);
    let n = 1000;
    let mut t = 0;
    let mut all = |step: &mut dyn FnMut(&mut Registry, &mut Client, u64, u32)| {
        for i in 0..n {
            step(&mut registry, &mut client, t, i);
            t += 1;
        }
    };
    let odd = |i: u32| i % 2 == 1;
    let load = |i: u32| if odd(i) { "B" } else { "A" };
    all(&mut |r, c, t, i| c.ask(r, t, &format!("CTLSEP{}.tlv", mac(i)), NotFound));
    all(&mut |r, c, t, i| {
        c.ask(r, t, &format!("SEP{}.cnf.xml", mac(i)), if odd(i) { NotFound } else { Exact });
    });
    all(&mut |r, c, t, i| {
        if odd(i) {
            c.ask(r, t, "XMLDefault.cnf.xml", Exact);
        }
    });
    all(&mut |r, c, t, i| c.ask(r, t, &format!("SCCP42.{}.loads", load(i)), Exact));
    all(&mut |r, c, t, i| c.ask(r, t, &format!("apps{}.sbn", load(i)), Exact));
    all(&mut |r, c, t, i| {
        c.ask(r, t, &format!("cnu{}.sbn", load(i)), if odd(i) { NotFound } else { Exact });
    });
    settled(&mut registry, t);
    assert_eq!(registry.len(), 1000, "every phone by its MAC, none by the address");
    let states = registry.states();
    assert_eq!(states.get("booted"), Some(&500), "{states:?}");
    assert_eq!(states.get("stuck"), Some(&500), "{states:?}");
    for i in 0..n {
        let p = phone(&registry, i);
        let names: Vec<&str> = p.requests.iter().map(|r| &*r.name).collect();
        let l = load(i);
        let expected = [format!("SCCP42.{l}.loads"), format!("apps{l}.sbn"), format!("cnu{l}.sbn")];
        assert!(expected.iter().all(|e| names.contains(&e.as_str())), "{i}: {names:?}");
        assert_eq!(names.len(), if odd(i) { 6 } else { 5 }, "{i}: {names:?}");
        if odd(i) {
            assert!(p.reason().unwrap().contains("cnuB.sbn"), "{i}: {:?}", p.state);
            assert!(names.contains(&"XMLDefault.cnf.xml"), "{i}: {names:?}");
        }
    }
}

#[test]
fn the_registry_is_bounded_by_count_dropping_the_least_recently_seen() {
    let limits = RegistryLimits { max_phones: 100, ..RegistryLimits::default() };
    let mut registry = Registry::new(limits);
    for i in 0..150u32 {
        let [_, _, c, d] = i.to_be_bytes();
        let mut client = Client::at([10, 1, c, d]);
        client.ask(&mut registry, u64::from(i), &format!("SEP{}.cnf.xml", mac(i)), Exact);
        assert!(registry.len() <= 100);
    }
    assert!(registry.phone_by_mac(mac(149)).is_some());
    assert!(registry.phone_by_mac(mac(0)).is_none());
}

#[test]
fn records_unseen_past_the_age_limit_are_dropped() {
    let limits = RegistryLimits { max_age: Duration::from_secs(3600), ..RegistryLimits::default() };
    let mut registry = Registry::new(limits);
    Client::at([10, 0, 0, 5]).ask(&mut registry, 0, "SEP001122000001.cnf.xml", Exact);
    registry.tick(3_600_000);
    assert_eq!(registry.len(), 1);
    registry.tick(3_600_001);
    assert!(registry.is_empty());
}

#[test]
fn a_record_saved_as_json_comes_back_the_same() {
    let mut registry = Registry::new(RegistryLimits::default());
    boot(&mut registry, &mut Client::at([10, 0, 0, 5]), 0, 1, true, NotFound);
    settled(&mut registry, 100);
    let saved = serde_json::to_string(phone(&registry, 1)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&saved).unwrap();
    assert_eq!(json["mac"], "001122000001");
    assert_eq!(json["state"], "stuck");
    let mut restored = Registry::new(RegistryLimits::default());
    restored.restore([serde_json::from_str::<Phone>(&saved).unwrap()]);
    assert_eq!(phone(&restored, 1), phone(&registry, 1));
}

#[test]
fn the_loads_a_configuration_names_are_every_load_information_text() {
    let xml = br#"<device><loadInformation>SCCP42.9-4-2SR4-3S</loadInformation>
        <loadInformation434 model="IP Phone 7942"> SCCP42.A </loadInformation434>
        <loadInformation30008 model="IP Phone 7902"/><loadInformation>SCCP42.A</loadInformation></device>"#;
    assert_eq!(cnfkit_server::registry::loads_named(xml), ["SCCP42.9-4-2SR4-3S", "SCCP42.A"]);
    assert!(cnfkit_server::registry::loads_named(b"<loadInformation").is_empty());
    // Read as cnfkit-config reads it: an add-on module's load counts, an inactive one does not.
    let xml = br#"<device><loadInformation>sip88xx.14-2-1</loadInformation>
        <inactiveLoadInformation>sip88xx.12-8-1</inactiveLoadInformation>
        <addOnModules><addOnModule idx="1"><loadInformation>kem.14-2-1</loadInformation></addOnModule></addOnModules></device>"#;
    assert_eq!(cnfkit_server::registry::loads_named(xml), ["sip88xx.14-2-1", "kem.14-2-1"]);
}

#[test]
fn a_manifest_goes_to_a_phone_known_to_need_it_before_one_whose_config_was_not_read() {
    // Phone 0 came first, alone at its address: its configuration was served before the
    // address was shared, so the server did not read it. Phone 1's default names load B.
    let mut registry = Registry::new(RegistryLimits::default());
    let mut client = Client::at([192, 0, 2, 1]);
    client.ask(&mut registry, 0, &format!("SEP{}.cnf.xml", mac(0)), Exact);
    client.ask(&mut registry, 1, &format!("SEP{}.cnf.xml", mac(1)), NotFound);
    registry.learn_config("XMLDefault.cnf.xml", vec!["SCCP42.B".into()]);
    client.ask(&mut registry, 2, "XMLDefault.cnf.xml", Exact);
    client.ask(&mut registry, 3, "SCCP42.B.loads", Exact);
    client.ask(&mut registry, 4, "SCCP42.A.loads", Exact);
    assert_eq!(phone(&registry, 1).load.as_deref(), Some("SCCP42.B"));
    assert_eq!(phone(&registry, 0).load.as_deref(), Some("SCCP42.A"));
}
