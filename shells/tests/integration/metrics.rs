//! `--metrics`: what calc and image did, scraped with a plain socket during a real job.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{producer, Scenario};
use fixedbrot_core::limits::WIRE_VERSION;
use rdkafka::producer::{BaseRecord, Producer};

const MINUTE: Duration = Duration::from_secs(60);

pub(crate) fn free_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The body of `GET /metrics` at `address`.
pub(crate) fn scrape(address: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    body.to_string()
}

/// The value of the sample `name` (with its labels, if any) in Prometheus text.
pub(crate) fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `done` holds for the text, at most a minute.
pub(crate) fn scrape_until(address: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + MINUTE;
    loop {
        let text = scrape(address);
        if done(&text) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn metrics_count_the_tiles_of_a_job_and_the_dead_letters_injected() {
    let scenario = Scenario::new("metrics", 2);
    let (calc_at, image_at) = (free_address(), free_address());
    let calc = scenario.start("calc", "calc", &["--threads", "1", "--metrics", &calc_at]);
    let image = scenario.start(
        "image",
        "image",
        &[
            "--output-dir",
            scenario.dir.to_str().unwrap(),
            "--metrics",
            &image_at,
        ],
    );
    calc.wait_assigned();
    image.wait_assigned();
    let producer = producer();
    // Garbage that names no job: it is dead-lettered, and no job fails of it.
    let truncated_id = [WIRE_VERSION, 0xff, 0xff, 0xff];
    for garbage in [&b""[..], b"\xff", &truncated_id] {
        producer
            .send(
                BaseRecord::to(&scenario.requests())
                    .key("x")
                    .payload(garbage),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    scenario.generate(&[]);
    image.wait_for("Output file is", 1, MINUTE);

    let tiles = "fixedbrot_tiles_computed_total";
    let calc_text = scrape_until(&calc_at, |text| {
        sample(text, tiles) == Some(80.0) && text.contains("fixedbrot_consumer_lag{")
    });
    assert_eq!(sample(&calc_text, tiles), Some(80.0), "{calc_text}");
    let dead: f64 = calc_text
        .lines()
        .filter(|line| line.starts_with("fixedbrot_dead_letters_total{"))
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(dead, 3.0, "{calc_text}");
    // Every message answered and acknowledged: 80 results, BEGIN and END passed on, and the
    // 3 dead letters.
    assert_eq!(
        sample(&calc_text, "fixedbrot_answers_delivered_total"),
        Some(85.0)
    );
    assert_eq!(
        sample(&calc_text, "fixedbrot_delivery_failures_total"),
        Some(0.0)
    );
    // The default view at 128 iterations: its counts' sum, as the fixtures have it.
    assert!(sample(&calc_text, "fixedbrot_kernel_steps_total").unwrap() > 1e6);
    assert!(
        calc_text.contains("fixedbrot_consumer_lag{topic=\""),
        "{calc_text}"
    );

    let image_text = scrape(&image_at);
    assert_eq!(
        sample(&image_text, "fixedbrot_jobs_completed_total"),
        Some(1.0)
    );
    assert_eq!(sample(&image_text, "fixedbrot_jobs_in_flight"), Some(0.0));
    assert_eq!(
        sample(&image_text, "fixedbrot_jobs_failed_total"),
        Some(0.0)
    );
    assert_eq!(
        sample(&image_text, "fixedbrot_job_seconds_count"),
        Some(1.0)
    );
}
