//! The default layout under a storm: 200 simulated phones boot through a server that answers
//! every transfer from its listening port, half of them from one address (phones behind one
//! NAT, told apart by port alone), half from addresses of their own. None fails.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use cnfkit_resolve::{Mac, ModelTable, PhoneSetup, Protocol};
use cnfkit_server::{PhoneClient, ProvisioningHandler, StormSummary, boot_over_tftp, demo};
use cnfkit_tftp::driver::{Server, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_phone_storm_through_one_port_boots_every_phone() {
    let handler = Arc::new(ProvisioningHandler::new(demo::resolver("127.0.0.1").unwrap()));
    let config = ServerConfig::default();
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), handler, config).await.unwrap();
    let addr: SocketAddr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending(), Duration::ZERO));

    let table = Arc::new(ModelTable::builtin());
    let gate = Arc::new(tokio::sync::Semaphore::new(50));
    let mut phones = Vec::new();
    for i in 0..200u32 {
        let [_, _, hi, lo] = i.to_be_bytes();
        let local: IpAddr =
            if i % 2 == 0 { [127, 0, 0, 1].into() } else { [127, 1, hi, lo].into() };
        let setup = PhoneSetup::new(Mac([0x00, 0x11, 0x22, 0x44, hi, lo]), "7942", Protocol::Sccp);
        let client = PhoneClient { local: Some(local), ..PhoneClient::default() };
        let (table, gate) = (table.clone(), gate.clone());
        phones.push(tokio::spawn(async move {
            let _turn = gate.acquire().await.unwrap();
            boot_over_tftp(&table, addr, setup, Some(demo::LOAD_7942), client).await
        }));
    }
    let mut boots = Vec::new();
    for phone in phones {
        let boot = tokio::time::timeout(Duration::from_secs(60), phone)
            .await
            .expect("the storm ends within 60 s")
            .unwrap()
            .unwrap();
        boots.push(boot);
    }
    let summary = StormSummary::of(&boots, 0);
    assert_eq!(
        (summary.phones, summary.ok, summary.failed, summary.stuck),
        (200, 200, 0, 0),
        "{summary:?}"
    );
}
