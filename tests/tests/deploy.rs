//! What the container and Kubernetes deployments rely on, with real processes: a cluster
//! bootstrapped from secrets made in advance by `scripts/cluster-secrets.sh` (CA, join token,
//! config key), members advertised by DNS name, and refusals of mismatched CAs and tokens.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use micro_proto::cluster::{cluster_client::ClusterClient, MembersRequest};
use micro_proto::store::{store_client::StoreClient, ReadRequest, Record, WriteRequest};
use micro_tests::cluster::READY;
use micro_tests::{auth, NodeAddrs, ServerProcess};

/// Runs `scripts/cluster-secrets.sh DIR` (needs openssl).
fn cluster_secrets(dir: &Path) -> anyhow::Result<()> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/cluster-secrets.sh");
    let out = Command::new("bash").arg(script).arg(dir).output()?;
    anyhow::ensure!(
        out.status.success(),
        "cluster-secrets.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn read_text(path: PathBuf) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(path)?.trim().to_owned())
}

/// The flags a Kubernetes pod gets: the pre-made CA, token and config key, a DNS-name
/// advertise address, and (unless bootstrapping) a join target.
fn pod_flags(secrets: &Path, addrs: &NodeAddrs, join: Option<&str>) -> anyhow::Result<Vec<String>> {
    let port = addrs.peer.rsplit_once(':').map(|(_, p)| p).unwrap_or("0");
    let mut flags = vec![
        "--ca-cert".into(),
        secrets.join("ca.pem").display().to_string(),
        "--ca-key".into(),
        secrets.join("ca.key").display().to_string(),
        "--join-token".into(),
        read_text(secrets.join("join-token"))?,
        "--config-secret-key".into(),
        read_text(secrets.join("config-secret-key"))?,
        "--advertise-address".into(),
        format!("localhost:{port}"),
    ];
    if let Some(target) = join {
        flags.extend(["--join".into(), target.into()]);
    }
    Ok(flags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_bootstrapped_from_premade_secrets_admits_joiners_advertised_by_name(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let secrets = dir.path().join("secrets");
    cluster_secrets(&secrets)?;
    let token = read_text(secrets.join("join-token"))?;

    let a0 = NodeAddrs::free();
    let flags0 = pod_flags(&secrets, &a0, None)?;
    let mut n0 = ServerProcess::spawn(a0, &dir.path().join("n0"), &flags0)?;
    n0.wait_ready(READY).await?;
    // The cluster's token is the one made in advance, and a given token is not printed.
    assert_eq!(read_text(dir.path().join("n0").join("join-token"))?, token);
    assert!(!n0.log_text().contains(&token), "{}", n0.log_text());

    let join_target = format!(
        "localhost:{}",
        n0.addrs
            .peer
            .rsplit_once(':')
            .map(|(_, p)| p)
            .unwrap_or("0")
    );
    let a1 = NodeAddrs::free();
    let flags1 = pod_flags(&secrets, &a1, Some(&join_target))?;
    let mut n1 = ServerProcess::spawn(a1, &dir.path().join("n1"), &flags1)?;
    n1.wait_ready(READY).await?;

    let admin = auth::login(&n0.addrs.api, auth::ADMIN.0, auth::ADMIN.1, "micro").await?;
    let bearer = auth::Bearer::new(&admin)?;
    let members = ClusterClient::new(auth::connect(&n1.addrs.proxy, &bearer).await?)
        .members(MembersRequest {})
        .await?
        .into_inner()
        .members;
    let mut peers: Vec<&str> = members.iter().map(|m| m.peer_address.as_str()).collect();
    peers.sort();
    let mut expected = [
        format!("localhost:{}", n0.addrs.peer.rsplit_once(':').unwrap().1),
        format!("localhost:{}", n1.addrs.peer.rsplit_once(':').unwrap().1),
    ];
    expected.sort();
    assert_eq!(
        peers,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Wildcard-free listeners keep their own address; what matters is the peer name above.
    let mut store1 = StoreClient::new(auth::connect(&n1.addrs.proxy, &bearer).await?);
    store1
        .write(WriteRequest {
            record: Some(Record {
                key: "k".into(),
                value: b"v".to_vec(),
                ..Default::default()
            }),
            options: None,
        })
        .await?;
    let mut store0 = StoreClient::new(auth::connect(&n0.addrs.proxy, &bearer).await?);
    let got = store0
        .read(ReadRequest {
            key: "k".into(),
            options: None,
        })
        .await?
        .into_inner()
        .records;
    assert_eq!(got.first().map(|r| r.value.as_slice()), Some(&b"v"[..]));

    // The same flags on a restart: the node restarts from its data dir (the pod template does
    // not change between the first start and later ones).
    n1.kill();
    n1.start()?;
    n1.wait_ready(READY).await?;
    assert!(
        n1.log_shows("restarted from its data dir", Duration::from_secs(30))
            .await,
        "{}",
        n1.log_text()
    );

    // A node given another cluster's CA is refused, with the right token or on restart.
    let other = dir.path().join("other");
    cluster_secrets(&other)?;
    let a2 = NodeAddrs::free();
    let mut flags2 = pod_flags(&secrets, &a2, Some(&join_target))?;
    flags2[1] = other.join("ca.pem").display().to_string();
    flags2[3] = other.join("ca.key").display().to_string();
    let mut n2 = ServerProcess::spawn(a2, &dir.path().join("n2"), &flags2)?;
    assert_ne!(n2.wait_exit(Duration::from_secs(60))?, Some(0));
    assert!(
        n2.log_text().contains("is not the cluster's"),
        "{}",
        n2.log_text()
    );
    n1.kill();
    let mut wrong_ca = n1.extra.clone();
    wrong_ca[1] = other.join("ca.pem").display().to_string();
    wrong_ca[3] = other.join("ca.key").display().to_string();
    n1.extra = wrong_ca;
    n1.start()?;
    assert_ne!(n1.wait_exit(Duration::from_secs(60))?, Some(0));
    assert!(
        n1.log_text().contains("is not the cluster's"),
        "{}",
        n1.log_text()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrap_token_must_pin_the_given_ca() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
    cluster_secrets(&ours)?;
    cluster_secrets(&theirs)?;
    let addrs = NodeAddrs::free();
    let mut flags = pod_flags(&ours, &addrs, None)?;
    flags[5] = read_text(theirs.join("join-token"))?;
    let mut n = ServerProcess::spawn(addrs, &dir.path().join("n"), &flags)?;
    assert_ne!(n.wait_exit(Duration::from_secs(60))?, Some(0));
    assert!(
        n.log_text().contains("does not pin its CA"),
        "{}",
        n.log_text()
    );

    // A token alone, without the CA it was made for, cannot bootstrap either.
    let addrs = NodeAddrs::free();
    let token = read_text(ours.join("join-token"))?;
    let mut n = ServerProcess::spawn(
        addrs,
        &dir.path().join("n2"),
        &["--join-token".into(), token],
    )?;
    assert_ne!(n.wait_exit(Duration::from_secs(60))?, Some(0));
    assert!(
        n.log_text().contains("does not pin its CA"),
        "{}",
        n.log_text()
    );
    Ok(())
}
