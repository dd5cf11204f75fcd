//! The product end to end through a real Kafka broker: generate, calc and image as separate
//! processes, against the in-process `render` of the same flags.

use std::time::Duration;

use fixedbrot_tests::cases::{LOCATION_1E50, LOCATION_5E227};

use crate::harness::{pixels, pngs_in, rendered, Process, Scenario};
use crate::view::TIP_1E300;

const MINUTE: Duration = Duration::from_secs(60);

/// generate + calc + image give the PNG `render` gives, for these view flags.
fn pipeline_equals_render(test: &str, view: &[&str]) {
    let scenario = Scenario::new(test, 6);
    let calc = scenario.start("calc", "calc", &["--threads", "2"]);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    calc.wait_assigned();
    image.wait_assigned();
    scenario.generate(view);
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(view, "classic", &scenario.dir));
    assert!(image.log().contains("Output file is: "), "{}", image.log());
}

#[test]
fn the_originals_run_in_tiles_equals_render() {
    pipeline_equals_render("tiles", &[]);
}

/// Deep zoom through Kafka: rust-fractal-core's 1e50 location (192 bits) and a 1e-300 view
/// (1,024 bits) give the PNG `render` gives.
#[test]
fn deep_views_through_kafka_equal_render() {
    let centre = format!("{},{}", LOCATION_1E50.0, LOCATION_1E50.1);
    let location_1e50 = [
        "--center",
        &centre,
        "--zoom",
        "1E50",
        "--width",
        "48",
        "--height",
        "32",
        "--tile",
        "16x16",
        "--iterations",
        "2000",
    ];
    pipeline_equals_render("deep-1e50", &location_1e50);
    pipeline_equals_render("deep-1e300", &TIP_1E300);
}

/// The deepest views, by perturbation (what `--kernel auto` takes there): rust-fractal-core's
/// 5e227 location (800 bits; inside at this limit) and the needle's tip at 1e1000 (3,360 bits,
/// counts from 1,632 to the limit), through Kafka, give the PNG `render` gives.
#[test]
fn perturbation_at_5e227_and_1e1000_through_kafka_equals_render() {
    for (name, (re, im), zoom) in [
        ("deep-5e227", LOCATION_5E227, "5E227"),
        ("deep-1e1000", ("-2", "0"), "1E1000"),
    ] {
        let centre = format!("{re},{im}");
        let view = [
            "--center",
            &centre,
            "--zoom",
            zoom,
            "--width",
            "40",
            "--height",
            "24",
            "--tile",
            "8x8",
            "--iterations",
            "3000",
        ];
        pipeline_equals_render(name, &view);
    }
}

/// `--log-format json`: every line a log shipper reads is one JSON object, and the job, the
/// partitions and the output path are fields of their events.
#[test]
fn json_logs_of_a_pipeline_run_are_one_object_a_line_with_their_fields() {
    let scenario = Scenario::new("json-logs", 2);
    let json = ["--log-format", "json"];
    let calc = scenario.start("calc", "calc", &[&["--threads", "1"], &json[..]].concat());
    let output = scenario.dir.join("image.png");
    let to = ["--output", output.to_str().unwrap()];
    let mut image = scenario.start("image", "image", &[&to[..], &json].concat());
    calc.wait_assigned();
    image.wait_assigned();
    let printed = scenario.generate(&json);
    let job = printed.split_whitespace().next().unwrap().to_string();
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    let events = |process: &Process| -> Vec<serde_json::Value> {
        let log = process.log();
        log.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    };
    let (image_events, calc_events) = (events(&image), events(&calc));
    let written = image_events
        .iter()
        .find(|event| {
            event["message"]
                .as_str()
                .unwrap()
                .starts_with("Output file is")
        })
        .expect("the image's output event");
    assert_eq!(written["job"], job.as_str(), "{written}");
    assert_eq!(written["path"], output.to_str().unwrap());
    assert_eq!(written["level"], "INFO");
    assert!(
        written["timestamp"].as_str().unwrap().ends_with('Z'),
        "{written}"
    );
    let assigned = calc_events
        .iter()
        .find(|event| {
            event["message"]
                .as_str()
                .unwrap()
                .starts_with("Partitions assigned")
        })
        .expect("calc's assignment event");
    assert_eq!(assigned["partitions"], "[0, 1]");
}

#[test]
fn the_originals_run_one_pixel_per_message_equals_render() {
    pipeline_equals_render("pixels", &["--tile", "1x1"]);
}

#[test]
fn image_complete_regardless_of_partitions_workers_and_duplicates() {
    let scenario = Scenario::new("order-free", 6);
    let workers: Vec<_> = (0..3)
        .map(|_| scenario.start("calc", "calc", &["--threads", "1"]))
        .collect();
    // A worker in a group of its own answers every request a second time.
    let duplicator = scenario.start("calc", "duplicator", &["--threads", "1"]);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    for worker in &workers {
        worker.wait_for("Partitions assigned", 1, MINUTE);
    }
    duplicator.wait_assigned();
    image.wait_assigned();
    let view = ["--tile", "16x16", "--format", "64"];
    scenario.generate(&view);
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));
}

/// The smooth fractions travel with the counts, and a job of 2x2 samples a pixel spreads
/// over the workers as any other: the default palette through Kafka paints the pixels
/// render paints, tiles split between two workers.
#[test]
fn a_smooth_job_through_kafka_paints_what_render_paints() {
    let scenario = Scenario::new("smooth", 6);
    let workers: Vec<_> = (0..2)
        .map(|_| scenario.start("calc", "calc", &["--threads", "1"]))
        .collect();
    let output = scenario.dir.join("image.png");
    let args = ["--output", output.to_str().unwrap(), "--palette", "ultra"];
    let mut image = scenario.start("image", "image", &args);
    for worker in &workers {
        worker.wait_for("Partitions assigned", 1, MINUTE);
    }
    image.wait_assigned();
    let view = [
        "--center=-0.743643887037151,0.13182590420533",
        "--zoom",
        "4E9",
        "--width",
        "160",
        "--height",
        "120",
        "--iterations",
        "3000",
        "--tile",
        "32x24",
        "--samples",
        "2",
    ];
    scenario.generate(&view);
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "ultra", &scenario.dir));
}

#[test]
fn two_jobs_at_once_become_two_correct_images_and_a_replay_writes_nothing() {
    let scenario = Scenario::new("two-jobs", 6);
    let calc = scenario.start("calc", "calc", &["--threads", "2"]);
    let out = scenario.dir.join("images");
    let out_arg = out.to_str().unwrap();
    let image = scenario.start(
        "image",
        "image",
        &["--output-dir", out_arg, "--palette", "azure"],
    );
    calc.wait_assigned();
    image.wait_assigned();
    let a = [
        "--top-left=-0.8,0.3",
        "--bottom-right=-0.6,0.1",
        "--width",
        "200",
        "--height",
        "200",
    ];
    let b = [
        "--width",
        "300",
        "--height",
        "100",
        "--iterations",
        "500",
        "--tile",
        "32x8",
    ];
    std::thread::scope(|s| {
        s.spawn(|| scenario.generate(&a));
        s.spawn(|| scenario.generate(&b));
    });
    image.wait_for("Output file is: ", 2, MINUTE);
    // The markers are logged as the original did, whenever they arrive (they are not needed),
    // even after the job's image when they took a slower path than its tiles.
    image.wait_for("Received BEGIN marker, ", 2, MINUTE);
    image.wait_for("Received END marker", 2, MINUTE);
    for size in ["of size 200 x 200", "of size 300 x 100"] {
        assert!(image.log().contains(size), "{}", image.log());
    }
    let got = pngs_in(&out);
    let mut want = vec![
        rendered(&a, "azure", &scenario.dir),
        rendered(&b, "azure", &scenario.dir),
    ];
    want.sort();
    assert!(got == want, "the two images are the two renders");
    drop(image);

    // A new assembler group replays the whole topic into the same directory: both jobs are
    // recorded as written, so only a third, new job produces a file.
    let replay = scenario.start("image", "replay", &["--output-dir", out_arg]);
    replay.wait_assigned();
    scenario.generate(&["--width", "64", "--height", "64"]);
    replay.wait_for("Output file is: ", 1, MINUTE);
    let log = replay.log();
    assert_eq!(log.matches("Output file is: ").count(), 1, "{log}");
    let files = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert_eq!(files, 3);
}

#[test]
fn a_job_a_worker_refuses_fails_with_a_clear_log_line() {
    let scenario = Scenario::new("refused", 2);
    let calc = scenario.start("calc", "calc", &["--max-iterations", "100"]);
    let image = scenario.start(
        "image",
        "image",
        &["--output-dir", scenario.dir.to_str().unwrap()],
    );
    calc.wait_assigned();
    image.wait_assigned();
    scenario.generate(&["--iterations", "128"]);
    image.wait_for("failed: a worker refused tile", 1, MINUTE);
    calc.wait_for("--max-iterations", 1, MINUTE);
}

#[test]
fn killing_calc_or_image_mid_job_and_starting_it_again_still_completes_the_image() {
    let scenario = Scenario::new("killed", 4);
    let output = scenario.dir.join("image.png");
    let output_arg = ["--output", output.to_str().unwrap()];
    let mut calc = scenario.start("calc", "calc", &["--threads", "1"]);
    let mut image = scenario.start("image", "image", &output_arg);
    calc.wait_assigned();
    image.wait_assigned();
    // Both killed as the first answers appear: in the middle of the job, which the two
    // checks below make sure of. A view by the cusp, where interior points run long, takes
    // one calc thread seconds; a light job (76,800 one-pixel tiles) was once done in the
    // fraction of a second it takes to see its first answer.
    let view = [
        "--top-left",
        "0.25,0.05",
        "--bottom-right",
        "0.35,-0.025",
        "--width",
        "320",
        "--height",
        "240",
        "--iterations",
        "100000",
        "--tile",
        "16x16",
    ];
    scenario.generate(&view);
    let responses = scenario.responses();
    scenario.wait_produced(&responses, 1, MINUTE);
    calc.kill();
    image.kill();
    assert!(scenario.produced(&responses) < 300, "calc finished first");
    assert!(!output.exists(), "image finished first");
    // The replacements join the same groups and take over once the dead members time out.
    let _calc = scenario.start("calc", "calc", &["--threads", "1"]);
    let mut image = scenario.start("image", "image", &output_arg);
    assert!(image.wait_exit(2 * MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));
}

/// "Written" is decided by one durable record, the image file itself (it names its job): a
/// crash just before it is linked into place, or just after, before the offsets are
/// committed, still leaves exactly one PNG per job once the assembler is back.
#[test]
fn a_crash_on_either_side_of_writing_an_image_leaves_exactly_one_png_per_job() {
    for point in ["before-link", "after-link"] {
        // One partition: the second job's image comes after the first job's replay.
        let scenario = Scenario::new(point, 1);
        let out = scenario.dir.join("images");
        let out_arg = ["--output-dir", out.to_str().unwrap()];
        let calc = scenario.start("calc", "calc", &["--threads", "1"]);
        let mut command = scenario.command("image", "image", &out_arg);
        command.env("FIXEDBROT_CRASH_AT", point);
        let mut image = Process::spawn(command, "image");
        calc.wait_assigned();
        image.wait_assigned();
        let first = ["--width", "200", "--height", "100"];
        scenario.generate(&first);
        assert!(!image.wait_exit(MINUTE).success(), "{}", image.log());
        assert!(image.log().contains(&format!("crash point {point}")));

        // The same group again: it reads from the last commit, before the first job.
        let image = scenario.start("image", "image", &out_arg);
        let second = ["--width", "120", "--height", "80"];
        scenario.generate(&second);
        let writes = if point == "before-link" { 2 } else { 1 };
        image.wait_for("Output file is: ", writes, 2 * MINUTE);
        if point == "after-link" {
            assert!(image.log().contains("1 images in"), "{}", image.log());
        }
        let mut want = vec![
            rendered(&first, "classic", &scenario.dir),
            rendered(&second, "classic", &scenario.dir),
        ];
        want.sort();
        assert!(pngs_in(&out) == want, "{point}: one PNG per job");
        let files = std::fs::read_dir(&out).unwrap().count();
        assert_eq!(files, 2, "{point}: no partial file is left");
    }
}

#[test]
fn a_broker_that_restarts_mid_job_is_waited_for() {
    // Its own broker, so restarting it disturbs no other test.
    let broker = crate::harness::OwnBroker::start(19092);
    let scenario = Scenario::on(&broker.address(), "restart", 2);
    let calc = scenario.start("calc", "calc", &["--threads", "1"]);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    calc.wait_assigned();
    image.wait_assigned();
    let view = ["--tile", "1x1", "--width", "320", "--height", "240"];
    scenario.generate(&view);
    broker.stop();
    std::thread::sleep(Duration::from_secs(2));
    broker.up();
    assert!(image.wait_exit(2 * MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));
}

/// An assembler with room for one job, fed the results of two jobs interleaved in one
/// partition: it sets one aside, reads it again from the topic once it can, and writes both,
/// each equal to `render`'s.
#[test]
fn two_jobs_with_room_for_one_are_both_written_by_reading_one_again() {
    use fixedbrot_core::wire::TileRequest;
    use fixedbrot_core::{Format, JobId, TileIndex};
    use fixedbrot_pipeline::{plan, worker};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let scenario = Scenario::new("no-room", 1);
    let out = scenario.dir.join("images");
    let out_arg = out.to_str().unwrap();
    let image = scenario.start(
        "image",
        "image",
        &["--output-dir", out_arg, "--max-jobs", "1"],
    );
    image.wait_assigned();
    let views: [(&str, &str, u32); 2] = [("-2,1.2", "1,-1.2", 80), ("-0.8,0.3", "-0.6,0.1", 200)];
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &scenario.brokers)
        .create()
        .unwrap();
    let jobs: Vec<_> = views
        .iter()
        .enumerate()
        .map(|(i, &(top_left, bottom_right, iterations))| {
            let job = fixedbrot_tests::cases::job(
                Format::I4F28,
                top_left,
                bottom_right,
                (96, 64),
                iterations,
                (16, 16),
            );
            (JobId(0x5eed + i as u64), job)
        })
        .collect();
    for tile in 0..jobs[0].1.grid.tiles() {
        for &(job_id, job) in &jobs {
            let request = TileRequest {
                job,
                tile: TileIndex(tile),
            };
            let payload = worker::compute(job_id, &request, &Default::default());
            let key = plan::key(job_id, None);
            producer
                .send(
                    BaseRecord::to(&scenario.responses())
                        .key(&key)
                        .payload(&payload),
                )
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    image.wait_for("Output file is: ", 2, MINUTE);
    let log = image.log();
    assert!(log.contains("set aside to make room"), "{log}");
    assert!(log.contains("again from offset 0"), "{log}");
    let got = pngs_in(&out);
    let mut want: Vec<Vec<u8>> = views
        .iter()
        .map(|&(top_left, bottom_right, iterations)| {
            let view = [
                format!("--top-left={top_left}"),
                format!("--bottom-right={bottom_right}"),
                "--width=96".into(),
                "--height=64".into(),
                format!("--iterations={iterations}"),
                "--tile=16x16".into(),
            ];
            let view: Vec<&str> = view.iter().map(String::as_str).collect();
            rendered(&view, "classic", &scenario.dir)
        })
        .collect();
    want.sort();
    assert!(got == want, "the two images are the two renders");
}
