//! A consumer group that goes on serving: a member stopped with SIGTERM hands its partitions
//! over at once, and a member busy with a long tile keeps no joiner waiting.

use std::time::{Duration, Instant};

use crate::harness::{pixels, rendered, Scenario};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_member_stopped_with_sigterm_leaves_its_group_at_once_and_the_image_is_whole() {
    let scenario = Scenario::new("sigterm", 6);
    let stays = scenario.start("calc", "calc", &["--threads", "1"]);
    stays.wait_assigned();
    // The first member gives up half its partitions to the second (cooperatively: it is
    // revoked some, not assigned anew).
    let mut leaves = scenario.start("calc", "calc", &["--threads", "1"]);
    leaves.wait_assigned();
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    image.wait_assigned();
    // Enough work that both members are busy when one is stopped: tiles long enough to be
    // long work, which the log says.
    let view = ["--iterations", "5000"];
    scenario.generate(&view);
    leaves.wait_for("Long work", 1, MINUTE);
    let stopped = Instant::now();
    leaves.terminate();
    // Leaving the group moves its partitions at once, not after the session timeout.
    stays.wait_for("Partitions assigned", 2, Duration::from_secs(10));
    let moved = stopped.elapsed();
    assert!(
        moved < Duration::from_secs(2),
        "partitions moved after {moved:?}"
    );
    assert!(leaves.wait_exit(MINUTE).success(), "{}", leaves.log());
    assert!(leaves.log().contains("Stopping"), "{}", leaves.log());
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    assert_eq!(pixels(&output), rendered(&view, "classic", &scenario.dir));
}

#[test]
fn a_member_busy_with_a_long_tile_keeps_no_joiner_waiting() {
    let scenario = Scenario::new("long-tile", 6);
    // Allowed more work per tile than the default 2^30 steps, since that is the point.
    let allowed = "--max-work=5000000000";
    let busy = scenario.start("calc", "calc", &["--threads", "1", allowed]);
    busy.wait_assigned();
    // One tile whose every point escapes slowly, near the cusp at 0.25: tens of seconds in a
    // debug build.
    scenario.generate(&[
        allowed,
        "--format=64",
        "--top-left=0.250000001,0.000000001",
        "--bottom-right=0.250000002,-0.000000001",
        "--width=64",
        "--height=64",
        "--iterations=1000000",
    ]);
    busy.wait_for("Long work", 1, MINUTE);
    let joined = Instant::now();
    let joiner = scenario.start("calc", "calc", &["--threads", "1", allowed]);
    joiner.wait_for("Partitions assigned", 1, Duration::from_secs(5));
    let waited = joined.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the joiner waited {waited:?}"
    );
}
