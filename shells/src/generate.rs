//! `fixedbrot generate`: one job to the requests topic: BEGIN, a request per tile, END.
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fixedbrot_core::{Job, JobId};
use fixedbrot_pipeline::plan;
use rdkafka::producer::{BaseProducer, Producer};

use crate::kafka::{self, Deliveries, Error, KafkaArgs, Outgoing, Queue};
use crate::log::{info, Hex, Progress};

/// Sends every message of job `job_id` and waits until the brokers have them all.
pub fn run(kafka: &KafkaArgs, job_id: JobId, job: Job) -> Result<(), Error> {
    let client_id = kafka::client_id("Mandelbrot.Generator");
    let producer: BaseProducer<Deliveries> = kafka.producer(&client_id)?;
    kafka.require_topics(producer.client(), &[&kafka.requests_topic])?;
    let started = Instant::now();
    info!(
        job = %Hex(job_id.0),
        tiles = job.grid.tiles(),
        "Job {:016x}: {}, to {}",
        job_id.0,
        plan::describe(&job),
        kafka.requests_topic
    );
    let total = u64::from(job.grid.tiles()) + 2;
    let progress = Progress::new("generate", total, "messages acknowledged");
    let mut sent = 0u64;
    for (key, bytes) in plan::messages(job_id, job) {
        let outgoing = Outgoing {
            topic: &kafka.requests_topic,
            key: key.as_bytes(),
            payload: Some(&bytes),
            headers: None,
            settles: None,
        };
        kafka::send(&producer, outgoing)?;
        sent += 1;
        // Acknowledgements are served as they come in. Left until the queue was full
        // (100,000 messages), each touched a message long out of the cache, and serving them
        // was an eighth of generate's time.
        if sent.is_multiple_of(256) {
            producer.serve(Duration::ZERO);
        }
        if sent.is_multiple_of(4096) {
            progress.show(producer.context().delivered.load(Ordering::Relaxed));
        }
    }
    // Everything sent must be acknowledged before we say so; librdkafka retries meanwhile.
    kafka::finish(&producer, Duration::from_secs(300), Some(&progress))?;
    drop(progress);
    info!(
        job = %Hex(job_id.0),
        messages = sent,
        "Total number of messages sent {sent} in {:.3} s",
        started.elapsed().as_secs_f64()
    );
    println!("{:016x} {sent}", job_id.0);
    Ok(())
}
