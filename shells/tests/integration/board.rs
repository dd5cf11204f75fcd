//! A microcontroller worker in the Kafka pipeline: the firmware on an emulated board, joined
//! to the calculation group by `fixedbrot bridge`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{pixels, rendered, EmulatedBoard, Process, Scenario};
use fixedbrot_tests::board::Machine;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn the_board_alone_renders_the_image_render_does() {
    board_alone(EmulatedBoard::boot(), "board-only");
}

#[test]
fn a_cortex_m0_board_alone_renders_the_image_render_does() {
    board_alone(EmulatedBoard::boot_on(Machine::Microbit), "microbit-only");
}

fn board_alone(board: EmulatedBoard, test: &str) {
    let scenario = Scenario::new(test, 2);
    let bridge = scenario.start("bridge", "calc", &["--tcp", &board.address()]);
    serve_the_job_alone(&scenario, &bridge);
}

/// A board that takes at most 256 pixels a tile serves the default 640x480 job in 64x64
/// tiles: the bridge cuts each into 16 pieces the board takes and puts the answers together.
#[test]
fn a_board_with_small_tiles_serves_a_whole_job_split_by_the_bridge() {
    let board = EmulatedBoard::boot_on(Machine::SmallTiles);
    let scenario = Scenario::new("board-small-tiles", 2);
    let bridge = scenario.start("bridge", "calc", &["--tcp", &board.address()]);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    bridge.wait_assigned();
    image.wait_assigned();
    scenario.generate(&[]);
    assert!(image.wait_exit(5 * MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&[], "classic", &scenario.dir));
    let log = bridge.log();
    assert!(
        log.contains("Board connected: tiles up to 256 pixels"),
        "{log}"
    );
}

/// The bridge's `--serial` path: serialport sets the terminal raw, then reads and writes. socat
/// gives the board's UART a pseudo-terminal, as a USB serial adapter would a real one.
#[test]
fn the_board_alone_renders_the_image_render_does_over_a_serial_device() {
    let board = EmulatedBoard::boot();
    let scenario = Scenario::new("board-serial", 2);
    let device = scenario.dir.join("board-tty");
    let mut socat = Command::new("socat")
        .arg(format!("pty,link={},raw,echo=0", device.display()))
        .arg(format!("tcp:{}", board.address()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat (Debian package socat)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !device.exists() {
        assert!(Instant::now() < deadline, "socat made no pty");
        std::thread::sleep(Duration::from_millis(20));
    }
    let serial = ["--serial", device.to_str().unwrap(), "--baud", "115200"];
    let bridge = scenario.start("bridge", "calc", &serial);
    serve_the_job_alone(&scenario, &bridge);
    let _ = socat.kill();
    let _ = socat.wait();
}

/// A 160x120 job in 32x32 tiles, served by `bridge` alone; the image equals `render`'s.
fn serve_the_job_alone(scenario: &Scenario, bridge: &Process) {
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    bridge.wait_assigned();
    image.wait_assigned();
    let view = ["--width", "160", "--height", "120", "--tile", "32x32"];
    scenario.generate(&view);
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));
    assert!(
        bridge
            .log()
            .contains("Board connected: tiles up to 4096 pixels"),
        "{}",
        bridge.log()
    );
}

#[test]
fn the_board_and_a_host_worker_share_a_job() {
    share_a_job("board-mixed", &[], &[]);
}

/// Every request answered through transactions, the board's long tiles between them.
#[test]
fn the_board_and_a_host_worker_share_a_job_exactly_once() {
    share_a_job(
        "board-mixed-eos",
        &["--exactly-once"],
        &["--read-committed"],
    );
}

fn share_a_job(test: &str, workers: &[&str], assembler: &[&str]) {
    let board = EmulatedBoard::boot();
    let scenario = Scenario::new(test, 6);
    let tcp = ["--tcp", &board.address()];
    let bridge = scenario.start("bridge", "calc", &[&tcp[..], workers].concat());
    let calc = scenario.start("calc", "calc", &[&["--threads", "1"], workers].concat());
    let output = scenario.dir.join("image.png");
    let to = ["--output", output.to_str().unwrap()];
    let mut image = scenario.start("image", "image", &[&to[..], assembler].concat());
    // Both members hold partitions before any request is sent.
    bridge.wait_for("Partitions assigned", 1, MINUTE);
    calc.wait_for("Partitions assigned", 1, MINUTE);
    bridge.wait_for("Partitions assigned: ", 1, MINUTE);
    image.wait_assigned();
    std::thread::sleep(Duration::from_secs(1)); // let the group settle on its final assignment
    scenario.generate(&[]);
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&[], "classic", &scenario.dir));
    bridge.wait_for("The board has served", 1, MINUTE);
}

#[test]
fn a_board_that_stops_answering_loses_no_request() {
    let mut board = EmulatedBoard::boot();
    let scenario = Scenario::new("board-dead", 2);
    let mut bridge = scenario.start("bridge", "calc", &["--tcp", &board.address()]);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    bridge.wait_assigned();
    image.wait_assigned();
    board.kill();
    let view = ["--width", "160", "--height", "120", "--tile", "32x32"];
    scenario.generate(&view);
    let status = bridge.wait_exit(MINUTE);
    assert_eq!(status.code(), Some(1), "{}", bridge.log());
    assert!(
        bridge
            .log()
            .contains("the line to the board broke before it answered tile"),
        "{}",
        bridge.log()
    );
    // Nothing was committed past the unanswered request: a host worker completes the job.
    let _calc = scenario.start("calc", "calc", &["--threads", "1"]);
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));
}
