//! A three-broker cluster, as the original ran in production: losing a broker mid-job loses
//! nothing, and the broker rejoins.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::harness::{pixels, rendered, OwnBroker, Scenario};

const MINUTE: Duration = Duration::from_secs(60);

/// The node leading partition 0 of `topic`, and whether every partition has all `replicas`
/// in sync.
fn leader_and_in_sync(scenario: &Scenario, topic: &str, replicas: usize) -> (u16, bool) {
    let (_, metadata) = scenario.metadata(topic);
    let partitions = metadata.topics()[0].partitions();
    let leader = partitions.iter().find(|p| p.id() == 0).unwrap().leader();
    let in_sync = partitions.iter().all(|p| p.isr().len() == replicas);
    (u16::try_from(leader).unwrap(), in_sync)
}

/// A topic setting as the brokers report it.
fn topic_setting(scenario: &Scenario, topic: &str, key: &str) -> Option<String> {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &scenario.brokers)
        .create()
        .unwrap();
    let resource = ResourceSpecifier::Topic(topic);
    let future = admin.describe_configs([&resource], &AdminOptions::new());
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    let results = loop {
        if let std::task::Poll::Ready(results) = future.as_mut().poll(&mut context) {
            break results.unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let config = results.into_iter().next().unwrap().unwrap();
    config.get(key).and_then(|entry| entry.value.clone())
}

#[test]
fn a_broker_killed_mid_job_loses_nothing_and_rejoins() {
    // Nodes on 19392, 19394 and 19396 (controllers one port up).
    let cluster = OwnBroker::cluster(19392, 3);
    let scenario = Scenario::named(&cluster.address(), "broker-loss");
    let mut topics = scenario.topics_with(&[
        "--partitions=3",
        "--replication=3",
        "--config=min.insync.replicas=2",
    ]);
    assert!(topics.wait_exit(MINUTE).success(), "{}", topics.log());
    for topic in [scenario.requests(), scenario.responses()] {
        let isr = topic_setting(&scenario, &topic, "min.insync.replicas");
        assert_eq!(isr.as_deref(), Some("2"), "{topic}");
    }
    let calc = scenario.start("calc", "calc", &["--threads", "2"]);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    calc.wait_assigned();
    image.wait_assigned();
    let view = ["--tile", "16x16", "--iterations", "3000"];
    scenario.generate(&view);
    let responses = scenario.responses();
    scenario.wait_produced(&responses, 100, MINUTE);
    // The leader of a partition in use, so its partitions must move mid-job.
    let (leader, in_sync) = leader_and_in_sync(&scenario, &responses, 3);
    assert!(in_sync, "all three replicas in sync before the kill");
    assert!(image.running(), "the job was done before the kill");
    cluster.kill_node(leader);
    assert!(image.wait_exit(2 * MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));

    cluster.up();
    let deadline = Instant::now() + MINUTE;
    for topic in [scenario.requests(), responses] {
        while !leader_and_in_sync(&scenario, &topic, 3).1 {
            assert!(
                Instant::now() < deadline,
                "node {leader} did not rejoin {topic}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
