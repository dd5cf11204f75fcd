//! Topics are usable the moment `fixedbrot topics` returns, a role started at the same moment
//! waits for them, and a topic that really is missing is a clear error within the connect
//! timeout.

use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{OwnBroker, Scenario, BIN};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

const MINUTE: Duration = Duration::from_secs(60);

/// A freshly started broker is when its metadata lags the controller most: 20 rounds of
/// `topics` and a worker started together, the first right after the broker came up.
#[test]
fn topics_and_a_worker_started_at_once_never_see_a_missing_topic() {
    let broker = OwnBroker::start(19292);
    for round in 0..20 {
        let scenario = Scenario::named(&broker.address(), &format!("race-{round}"));
        let mut topics = scenario.topics(2);
        let calc = scenario.start("calc", "calc", &["--threads", "1"]);
        assert!(topics.wait_exit(MINUTE).success(), "{}", topics.log());
        every_partition_has_a_leader_right_away(&scenario, 2);
        calc.wait_assigned();
        for log in [topics.log(), calc.log()] {
            assert!(!log.contains("does not exist"), "round {round}:\n{log}");
        }
    }
}

/// One metadata request, no retries: what a client that starts after `topics` returned sees.
fn every_partition_has_a_leader_right_away(scenario: &Scenario, partitions: usize) {
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &scenario.brokers)
        .create()
        .unwrap();
    for topic in [
        scenario.requests(),
        scenario.responses(),
        format!("{}.dlq", scenario.requests()),
        format!("{}.dlq", scenario.responses()),
    ] {
        let metadata = client
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .unwrap();
        let found = &metadata.topics()[0];
        assert_eq!(found.name(), topic);
        assert!(found.error().is_none(), "{topic}: {:?}", found.error());
        assert_eq!(found.partitions().len(), partitions, "{topic}");
        for partition in found.partitions() {
            assert!(partition.leader() >= 0, "{topic} {}", partition.id());
        }
    }
}

/// Every role names the first topic it needs that is missing, dead-letter topics included,
/// and gives up within `--connect-timeout`.
#[test]
fn a_topic_that_really_is_missing_is_a_clear_error_within_the_connect_timeout() {
    let scenario = Scenario::new("missing", 1);
    let (requests, responses) = (scenario.requests(), scenario.responses());
    let nothing = format!("{}.nothing", scenario.name);
    // A dead-letter topic passed as a main topic exists, but its own dead-letter topic does not.
    let requests_dlq = format!("{requests}.dlq");
    let dlq_of_dlq = format!("{requests_dlq}.dlq");
    // A board's UART that is never answered: the bridge checks its topics first.
    let uart = TcpListener::bind("127.0.0.1:0").unwrap();
    let board = uart.local_addr().unwrap().to_string();
    // The role, its requests and responses topics, further flags, the topic it must name.
    let cases: [(&str, &str, &str, &[&str], &str); 5] = [
        ("generate", &nothing, &responses, &[], &nothing),
        ("calc", &requests, &nothing, &[], &nothing),
        ("calc", &requests_dlq, &responses, &[], &dlq_of_dlq),
        ("image", &nothing, &requests_dlq, &[], &dlq_of_dlq),
        (
            "bridge",
            &requests_dlq,
            &responses,
            &["--tcp", &board],
            &dlq_of_dlq,
        ),
    ];
    std::thread::scope(|s| {
        for &(role, requests, responses, extra, missing) in &cases {
            let brokers = &scenario.brokers;
            s.spawn(move || {
                let started = Instant::now();
                let output = Command::new(BIN)
                    .arg(role)
                    .args(["--brokers", brokers, "--connect-timeout", "2"])
                    .args(["--requests-topic", requests, "--responses-topic", responses])
                    .args(extra)
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert_eq!(output.status.code(), Some(1), "{role}: {stderr}");
                assert!(
                    stderr.contains(&format!("topic {missing} does not exist")),
                    "{role}: {stderr}"
                );
                let took = started.elapsed();
                assert!(
                    (Duration::from_secs(2)..Duration::from_secs(10)).contains(&took),
                    "{role} gave up after {took:?}"
                );
            });
        }
    });
}
