//! Hostile input is harmless: garbage on either topic is logged, counted and copied to the
//! dead-letter topic, good jobs still complete, a missing broker is a clear error in time,
//! and bad command lines get clap's errors.
mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use fixedbrot_core::limits::WIRE_VERSION;
use fixedbrot_core::wire::{self, Envelope, Message, TileRequest};
use fixedbrot_core::{Format, Grid, JobId, TileIndex};
use harness::{brokers, pixels, rendered, Scenario, BIN};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::Message as _;

const MINUTE: Duration = Duration::from_secs(60);

fn hostile_payloads() -> Vec<Vec<u8>> {
    let job = fixedbrot_tests::cases::default_job(Format::I4F28, 64);
    let request = |job, tile| {
        let mut bytes = vec![WIRE_VERSION];
        let envelope = Envelope {
            job_id: JobId(42),
            message: Message::Request(TileRequest { job, tile }),
        };
        bytes.extend(postcard::to_allocvec(&envelope).unwrap());
        bytes
    };
    let good = request(job, TileIndex(3));
    let mut huge = job;
    huge.grid = Grid {
        width: 1_000_000,
        height: 1_000_000,
        tile_width: 64,
        tile_height: 64,
    };
    let mut wrong_version = good.clone();
    wrong_version[0] = 7;
    vec![
        b"garbage".to_vec(),
        vec![],
        good[..good.len() / 2].to_vec(),
        request(job, TileIndex(80)),
        request(huge, TileIndex(0)),
        wrong_version,
        vec![WIRE_VERSION; 5000],
    ]
}

fn count(topic: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", format!("{topic}.counter"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut idle_since = Instant::now();
    while Instant::now() < deadline && idle_since.elapsed() < Duration::from_secs(4) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            assert!(message.headers().is_some(), "dead letters say why");
            n += 1;
            idle_since = Instant::now();
        }
    }
    n
}

#[test]
fn hostile_messages_are_set_aside_and_good_jobs_still_complete() {
    let scenario = Scenario::new("hostile", 3);
    let calc = scenario.start("calc", "calc", &["--threads", "1"]);
    let image = scenario.start(
        "image",
        "image",
        &["--output-dir", scenario.dir.to_str().unwrap()],
    );
    calc.wait_assigned();
    image.wait_assigned();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let payloads = hostile_payloads();
    for topic in [scenario.requests(), scenario.responses()] {
        for payload in &payloads {
            producer
                .send(BaseRecord::to(&topic).key("x").payload(payload))
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    scenario.generate(&[]);
    image.wait_for("Output file is: ", 1, MINUTE);
    let log = image.log();
    let written = log
        .split("Output file is: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert_eq!(
        pixels(std::path::Path::new(written)),
        rendered(&[], "classic", &scenario.dir)
    );
    // Every hostile message is set aside, on either side. What the worker could still answer
    // (a refusal to a job id it could read) reaches the assembler as a failed job.
    let n = payloads.len();
    calc.wait_for(&format!("dead letter #{n} "), 1, MINUTE);
    image.wait_for(&format!("dead letter #{n} "), 1, MINUTE);
    assert_eq!(count(&format!("{}.dlq", scenario.requests())), n);
    assert_eq!(count(&format!("{}.dlq", scenario.responses())), n);
    assert!(
        !image.log().contains(&format!("dead letter #{} ", n + 1)),
        "{}",
        image.log()
    );
}

#[test]
fn a_broker_that_is_down_is_a_clear_error_within_15_s() {
    std::thread::scope(|s| {
        for subcommand in ["generate", "calc", "image"] {
            s.spawn(move || {
                let started = Instant::now();
                let output = Command::new(BIN)
                    .args([subcommand, "--brokers", "127.0.0.1:9"])
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "{subcommand} took {:?}",
                    started.elapsed()
                );
                assert_eq!(output.status.code(), Some(1), "{subcommand}");
                assert!(
                    stderr.contains("no Kafka broker answered at 127.0.0.1:9"),
                    "{subcommand}: {stderr}"
                );
            });
        }
    });
}

#[test]
fn bad_command_lines_get_clap_errors_and_exit_2() {
    for args in [
        &["render", "--width", "0"][..],
        &["render", "--tile", "100x100"],
        &["render", "--top-left=-9,0"],
        &["render", "--format", "16"],
        &["render", "--iterations", "-1"],
        &["generate", "--palette", "x"],
        &["calc", "-X", "novalue"],
        &["render", "--width", "70000"],
        &["render", "--max-pixels", "1000"],
        &["frobnicate"],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
}

#[test]
fn decoded_hostile_payloads_are_all_refused_by_the_core() {
    for payload in hostile_payloads() {
        assert!(wire::decode(&payload).is_err());
    }
}
