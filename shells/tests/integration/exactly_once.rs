//! Exactly-once answering: a worker killed mid-job and started again leaves exactly one
//! committed answer per request, and the image assembled from committed answers is whole.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::{pixels, read_topic, rendered, Scenario};
use fixedbrot_core::wire::{self, Message};
use rdkafka::Message as _;

const MINUTE: Duration = Duration::from_secs(60);

/// What a message on either topic is about: a job's marker, or one of its tiles.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum About {
    Begin(u64),
    Tile(u64, u32),
    End(u64),
}

/// How many messages on `topic` are about each thing.
fn census(topic: &str, read_committed: bool) -> BTreeMap<About, usize> {
    let mut count = BTreeMap::new();
    for message in read_topic(topic, read_committed) {
        let envelope = wire::decode(message.payload().unwrap()).unwrap();
        let job = envelope.job_id.0;
        let about = match envelope.message {
            Message::Begin(_) => About::Begin(job),
            Message::End(_) => About::End(job),
            Message::Request(request) => About::Tile(job, request.tile.0),
            Message::Result(result) => About::Tile(job, result.tile.0),
            Message::Refused(refusal) => panic!("refused: {refusal:?}"),
        };
        *count.entry(about).or_default() += 1;
    }
    count
}

#[test]
fn a_worker_killed_mid_job_and_restarted_commits_exactly_one_answer_per_request() {
    let scenario = Scenario::new("exactly-once", 3);
    let exactly_once = ["--threads", "2", "--exactly-once"];
    let mut calc = scenario.start("calc", "calc", &exactly_once);
    // Both members in the group before the work starts, so no rebalance pauses it.
    calc.wait_for("Partitions assigned", 2, MINUTE);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start(
        "image",
        "image",
        &["--read-committed", "--output", output.to_str().unwrap()],
    );
    image.wait_assigned();
    // 1200 small tiles: the worker is killed with most of them still to answer, in the
    // middle of a transaction (one is open nearly all the time while it works).
    let view = ["--tile", "16x16", "--iterations", "3000"];
    scenario.generate(&view);
    scenario.wait_produced(&scenario.responses(), 150, MINUTE);
    calc.kill();
    // Started again under the same transactional ids, it fences its killed self, whose open
    // transaction is aborted at once, and answers what was not committed.
    let mut again = scenario.start("calc", "calc", &exactly_once);
    assert!(image.wait_exit(2 * MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));
    again.terminate();
    assert!(again.wait_exit(MINUTE).success(), "{}", again.log());

    let requests = census(&scenario.requests(), false);
    let committed = census(&scenario.responses(), true);
    assert_eq!(requests.values().sum::<usize>(), 1202);
    assert_eq!(committed, requests, "one committed answer per request");
    // Answers of the killed worker's open transactions are on the topic too, aborted: only a
    // read_uncommitted reader sees them (how many depends on where the kill fell).
    let everything: usize = census(&scenario.responses(), false).values().sum();
    eprintln!("{} aborted answers", everything - 1202);
    assert!(everything >= 1202, "{everything} answers in all");
}
