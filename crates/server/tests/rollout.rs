//! Staged rollouts (`[rollouts."7942"]` in the defaults): the new load goes to a share of the
//! model's phones chosen by MAC, the registry judges the moved phones, and a rollout whose moved
//! phones end stuck halts by itself: the phones not yet moved keep the old load. Simulated
//! phones (what `phone-sim` runs) boot against the real server.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cnfkit_resolve::{Mac, ModelTable, PhoneSetup, Protocol};
use cnfkit_server::registry::RegistryLimits;
use cnfkit_server::{
    Monitor, PhoneBoot, PhoneClient, ProvisioningHandler, Site, SiteOptions, boot_over_tftp,
};
use cnfkit_tftp::driver::{Server, ServerConfig};

const FROM: &str = "SCCP42.9-4-2SR3-1S";
const TO: &str = "SCCP42.9-4-2SR4-3S";

/// A tree with both loads (the new one without its second image unless `whole`), an inventory
/// of 60 7942s and defaults rolling `TO` out to half of them.
fn site(name: &str, whole: bool) -> (PathBuf, SiteOptions) {
    let root = std::env::temp_dir().join(format!("cnfkit-rollout-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("tftp")).unwrap();
    let tree = root.join("tftp");
    for (load, tag) in [(FROM, "SR3"), (TO, "SR4")] {
        let images = [format!("jar42sccp.{tag}.sbn"), format!("cnu42.{tag}.sbn")];
        let manifest: String = images.iter().map(|i| format!("{i}\r\n")).collect();
        std::fs::write(tree.join(format!("{load}.loads")), manifest).unwrap();
        std::fs::write(tree.join(&images[0]), vec![1; 2000]).unwrap();
        if whole || load == FROM {
            std::fs::write(tree.join(&images[1]), vec![2; 2000]).unwrap();
        }
    }
    let inventory = root.join("phones.csv");
    let rows: String = (0..60).map(|i| format!("0011226600{i:02X},7942\n")).collect();
    std::fs::write(&inventory, format!("mac,model\n{rows}")).unwrap();
    let defaults = root.join("defaults.toml");
    std::fs::write(
        &defaults,
        format!(
            "call_managers = [\"127.0.0.1\"]\n[loads]\n\"7942\" = \"{FROM}\"\n\
             [rollouts.\"7942\"]\nfrom = \"{FROM}\"\nto = \"{TO}\"\npercent = 50\nhalt-percent = 20\nhalt-min = 4\n"
        ),
    )
    .unwrap();
    let options = SiteOptions {
        inventory: Some(inventory),
        defaults: Some(defaults),
        ..SiteOptions::new(&tree)
    };
    (root, options)
}

async fn serve(options: SiteOptions) -> (SocketAddr, Arc<Monitor>) {
    let site = Site::load(options).unwrap();
    let limits = RegistryLimits { quiet: Duration::from_millis(300), ..RegistryLimits::default() };
    let monitor = Monitor::new(limits, None);
    monitor.attach_rollouts(site.rollouts.clone());
    let handler = ProvisioningHandler::new(site.resolver).with_monitor(monitor.clone());
    let server =
        Server::bind("127.0.0.1:0".parse().unwrap(), Arc::new(handler), ServerConfig::default())
            .await
            .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));
    (addr, monitor)
}

/// Boots phones `range` of the inventory, each running [`FROM`], 10 at a time.
async fn boot(addr: SocketAddr, range: std::ops::Range<u8>) -> Vec<PhoneBoot> {
    let table = Arc::new(ModelTable::builtin());
    let gate = Arc::new(tokio::sync::Semaphore::new(10));
    let mut phones = Vec::new();
    for i in range {
        let setup = PhoneSetup::new(Mac([0x00, 0x11, 0x22, 0x66, 0x00, i]), "7942", Protocol::Sccp);
        let local: IpAddr = [127, 6, 0, i].into();
        let client = PhoneClient { local: Some(local), ..PhoneClient::default() };
        let (table, gate) = (table.clone(), gate.clone());
        phones.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            boot_over_tftp(&table, addr, setup, Some(FROM), client).await.unwrap()
        }));
    }
    let mut boots = Vec::new();
    for phone in phones {
        boots.push(tokio::time::timeout(Duration::from_secs(60), phone).await.unwrap().unwrap());
    }
    boots
}

/// Lets the registry settle the phones that went quiet, and judge the rollouts.
async fn settle(monitor: &Monitor) {
    tokio::time::sleep(Duration::from_millis(400)).await;
    monitor.tick();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_rollout_moves_its_share_by_mac_and_the_registry_shows_phones_per_load() {
    let (root, options) = site("healthy", true);
    let (addr, monitor) = serve(options).await;
    let boots = boot(addr, 0..60).await;
    let moved = boots.iter().filter(|b| b.report.load.as_deref() == Some(TO)).count();
    assert!(boots.iter().all(|b| b.report.ok()), "none stuck");
    assert!((15..=45).contains(&moved), "about half of 60 moved: {moved}");
    settle(&monitor).await;
    let status = &monitor.rollouts()[0];
    assert!(!status.halted);
    assert_eq!((status.booted, status.failed), (moved, 0));
    let metrics = monitor.metrics_text();
    assert!(
        metrics
            .contains(&format!("cnfkit_phones_by_load{{load=\"{TO}\",state=\"booted\"}} {moved}")),
        "{metrics}"
    );
    assert!(metrics.contains("cnfkit_rollout_halted{model=\"7942\"} 0"), "{metrics}");
    // The same phones again: the same lot for each.
    let again = boot(addr, 0..60).await;
    for (first, second) in boots.iter().zip(&again) {
        assert_eq!(first.report.load, second.report.load);
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_whose_moved_phones_get_stuck_halts_and_the_rest_keep_the_old_load() {
    let (root, options) = site("halts", false);
    let (addr, monitor) = serve(options).await;
    // The first 20 phones: those chosen move, and get stuck on the missing image.
    let first = boot(addr, 0..20).await;
    let stuck = first.iter().filter(|b| !b.report.ok()).count();
    assert!(stuck >= 4, "{stuck} of 20 moved and got stuck");
    settle(&monitor).await;
    let status = &monitor.rollouts()[0];
    assert!(status.halted, "{status:?}");
    assert_eq!(status.failed, stuck);
    assert!(monitor.metrics_text().contains("cnfkit_rollout_halted{model=\"7942\"} 1"));
    // The other 40, after the halt: whoever was chosen keeps the old load, nobody gets stuck.
    let rest = boot(addr, 20..60).await;
    assert!(rest.iter().all(|b| b.report.ok() && b.report.load.as_deref() == Some(FROM)));
    // A stuck phone that boots again is told the old load too: it recovers.
    let again = boot(addr, 0..20).await;
    assert!(again.iter().all(|b| b.report.ok()), "the stuck phones recover on the old load");
    std::fs::remove_dir_all(&root).unwrap();
}
