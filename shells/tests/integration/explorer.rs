//! `fixedbrot serve`: the explorer's tiles are `render`'s pixels, its links draw them again,
//! and hostile requests get a 4xx while it serves on; over HTTP and in a real headless
//! Chromium.
use std::time::Duration;

use serde_json::{json, Value};

use fixedbrot_core::wire;

use crate::harness::{pixels, read_topic, rendered, Scenario, Scratch, BIN};
use crate::web::{send_bytes, Browser, Explorer};

/// A PNG's size and RGB bytes (an alpha channel dropped).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let rgb = buf
        .chunks(channels)
        .flat_map(|pixel| pixel[..3].to_vec())
        .collect();
    (info.width, info.height, rgb)
}

/// A PNG's text chunks.
fn texts(bytes: &[u8]) -> Vec<(String, String)> {
    let reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let info = reader.info();
    info.uncompressed_latin1_text
        .iter()
        .map(|chunk| (chunk.keyword.clone(), chunk.text.clone()))
        .collect()
}

/// The rectangle `x0..x1` by `y0..y1` of an RGB image `width` wide.
fn region(rgb: &[u8], width: u32, (x0, x1): (u32, u32), (y0, y1): (u32, u32)) -> Vec<u8> {
    (y0..y1)
        .flat_map(|y| {
            let row = (y * width) as usize * 3;
            rgb[row + x0 as usize * 3..row + x1 as usize * 3].to_vec()
        })
        .collect()
}

/// How many pixels of two equal-sized RGB images differ.
fn differing(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    a.chunks(3).zip(b.chunks(3)).filter(|(p, q)| p != q).count()
}

/// The window `width` x `height` around the place `query` asks for, pasted from its tiles.
fn window_from_tiles(explorer: &Explorer, query: &str, width: u32, height: u32) -> Vec<u8> {
    let place = explorer.get(&format!("/api/place?{query}")).json();
    let number = |key: &str| place[key].as_str().unwrap().parse::<i128>().unwrap();
    let (left, top) = (
        number("column") - i128::from(width / 2),
        number("row") - i128::from(height / 2),
    );
    let mut window = vec![0u8; (width * height * 3) as usize];
    let side = 256;
    for ty in top.div_euclid(side)..=(top + i128::from(height) - 1).div_euclid(side) {
        for tx in left.div_euclid(side)..=(left + i128::from(width) - 1).div_euclid(side) {
            let answer = explorer.get(&format!("/api/tile?{query}&x={tx}&y={ty}"));
            assert_eq!(answer.status, 200, "{}", answer.text());
            let (w, h, rgb) = decode(&answer.body);
            let at = answer.header("x-tile-at").unwrap();
            let (ax, ay) = at.split_once(',').unwrap();
            let (ax, ay) = (ax.parse::<i128>().unwrap(), ay.parse::<i128>().unwrap());
            for y in 0..i128::from(h) {
                for x in 0..i128::from(w) {
                    let (sx, sy) = (tx * side + ax + x - left, ty * side + ay + y - top);
                    if (0..i128::from(width)).contains(&sx) && (0..i128::from(height)).contains(&sy)
                    {
                        let from = ((y * i128::from(w) + x) * 3) as usize;
                        let to = ((sy * i128::from(width) + sx) * 3) as usize;
                        window[to..to + 3].copy_from_slice(&rgb[from..from + 3]);
                    }
                }
            }
        }
    }
    window
}

#[test]
fn the_explorer_s_tiles_are_render_s_pixels_at_every_depth() {
    let dir = Scratch::new("explorer-tiles");
    let explorer = Explorer::start(&["--threads", "2"]);
    let (width, height) = (300, 200);
    for (centre, zoom, extra, flags) in [
        ("-0.75,0.1", "2", "", vec![]),
        (
            "-0.743643887037151,0.13182590420533",
            "1E10",
            "&p=azure",
            vec!["--palette"],
        ),
        // A wide format: tiles and render by direct iteration, pixel for pixel.
        (
            "-1.7685736562,0.0009642968",
            "3E20",
            "&k=direct&n=300",
            vec!["--kernel", "direct"],
        ),
    ] {
        let query = format!("c={centre}&z={zoom}&h={height}{extra}");
        let ours = window_from_tiles(&explorer, &query, width, height);
        let place = explorer.get(&format!("/api/place?{query}")).json();
        let iterations = place["n"].to_string();
        let mut view = vec![
            "--center",
            centre,
            "--zoom",
            zoom,
            "--width",
            "300",
            "--height",
            "200",
            "--iterations",
            &iterations,
        ];
        let palette = if flags.first() == Some(&"--palette") {
            "azure"
        } else {
            "ultra"
        };
        if flags.first() == Some(&"--kernel") {
            view.extend(&flags);
        }
        let theirs = rendered(&view, palette, &dir);
        assert_eq!(differing(&ours, &theirs), 0, "{query}");
    }
}

#[test]
fn hostile_requests_get_a_4xx_and_the_explorer_serves_on() {
    let flags = [
        "--threads",
        "1",
        "--max-work",
        "50000000",
        "--max-iterations",
        "300",
    ];
    let explorer = Explorer::start(&flags);
    let tile = "/api/tile?c=-0.6,0&z=1&h=100";
    let long = "1".repeat(9_000);
    let cases: Vec<(String, u16)> = vec![
        ("/api/tile".into(), 400),
        (format!("{tile}&x=0"), 400),
        ("/api/tile?c=abc&z=1&h=100&x=0&y=0".into(), 400),
        (format!("{tile}&x=0&y=0&x=1"), 400),
        (format!("{tile}&x=0&y=0&why=1"), 400),
        (format!("{tile}&x=1e5&y=0"), 400),
        (format!("{tile}&x=0&y=0&p=../../etc/passwd"), 400),
        (format!("{tile}&x=0&y=0&n=0"), 400),
        (format!("{tile}&x=0&y=0&n=4000000000"), 400),
        (format!("{tile}&x=0&y=0&f=33"), 400),
        (format!("{tile}&x=0&y=0&k=fast"), 400),
        ("/api/tile?c=-0.6,0&z=-1&h=100&x=0&y=0".into(), 400),
        ("/api/tile?c=-0.6,0&z=1E99999&h=100&x=0&y=0".into(), 400),
        ("/api/tile?c=-0.6,0&z=1&h=0&x=0&y=0".into(), 400),
        ("/api/tile?c=-0.6,0&z=1&h=99999&x=0&y=0".into(), 400),
        ("/api/tile?c=9,9&z=1&h=100&x=0&y=0".into(), 400),
        (format!("/api/place?c={long},0&z=1&h=100"), 400),
        (
            "/api/place?c=-0.6,0&z=1&h=100&dx=99999999999999999999".into(),
            400,
        ),
        ("/api/place?c=-0.6,0&z=1&h=100&zoom=9999".into(), 400),
        ("/api/place?c=%ZZ,0&z=1&h=100".into(), 400),
        ("/api/place?c=-0.6,0&z=1E-1300&h=100".into(), 400),
        // Over --max-work: a tile's job (and each of its parts) is checked before work.
        (format!("{tile}&x=0&y=0&n=100000000"), 400),
        ("/api/download?c=-0.6,0&z=1&h=65535&w=65535".into(), 400),
        ("/api/download?c=-0.6,0&z=1&h=100".into(), 400),
        ("/../../etc/passwd".into(), 404),
        ("/explorer.js/../../../etc/passwd".into(), 404),
        ("/%2e%2e/%2e%2e/etc/passwd".into(), 404),
        ("/api/tile/../../../etc/passwd".into(), 404),
    ];
    for (path, status) in &cases {
        let answer = explorer.get(path);
        assert_eq!(answer.status, *status, "{path}: {}", answer.text());
        let text = answer.text();
        assert!(
            text.lines().count() <= 1 && text.len() < 300,
            "{path}: one line: {text:?}"
        );
    }
    // A pan off the plane, and digits that are not digits.
    for path in [
        "/api/place?c=0,0&z=1&h=100&dx=2000",
        "/api/place?c=0,0&z=1&h=100&dy=-1099511627776",
        &format!("{tile}&x=1_0&y=0"),
        &format!("{tile}&x=+1&y=0"),
        "/api/place?c=0,0&z=1&h=+100",
        "/api/place?c=0,0&z=1&h=100&n=+200",
        "/api/place?c=0,0&z=1&h=100&dx=+1",
        // One place, one link: no other spelling of its numbers.
        "/api/place?c=0,0&z=1&h=100&dx=0007",
        "/api/place?c=0,0&z=1&h=100&dy=-0",
        "/api/place?c=0,0&z=1&h=100&n=0100",
        "/api/place?c=0,0&z=1&h=100&f=064",
        "/api/place?c=0,0&z=1&h=100&f=+64",
        "/api/place?c=0,0&z=+1&h=100",
        "/api/place?c=+0.5,0&z=1&h=100",
    ] {
        assert_eq!(explorer.get(path).status, 400, "{path}");
    }
    // The download's limit follows the zoom within --max-iterations, as the tiles' does.
    let download = explorer.get("/api/download?c=-0.75,0.1&z=1E3&h=60&w=80&n=auto");
    assert_eq!(download.status, 200, "{}", download.text());
    // Far outside the safe range there is nothing to draw.
    let far = explorer.get(&format!("{tile}&x=999999999999999999999999999&y=0"));
    assert_eq!(far.status, 204);
    // Not a GET, a body, a header flood, and no HTTP at all.
    let host = explorer.address;
    let post = format!(
        "POST /api/tile HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    assert_eq!(explorer.send(&post).status, 405);
    // Another host's name (DNS rebinding), and a page of another site.
    let rebound = "GET /api/place?c=0,0&z=1&h=100 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    assert_eq!(explorer.send(rebound).status, 421);
    let cross = format!(
        "GET /api/download?c=0,0&z=1&h=100&w=100 HTTP/1.1\r\nHost: {host}\r\n\
         Sec-Fetch-Site: cross-site\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(explorer.send(&cross).status, 403);
    // A link to the page followed from another site opens it.
    let followed = format!(
        "GET /?c=0,0&z=1 HTTP/1.1\r\nHost: {host}\r\nSec-Fetch-Site: cross-site\r\n\
         Sec-Fetch-Mode: navigate\r\nSec-Fetch-Dest: document\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(explorer.send(&followed).status, 200);
    let flood = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let answer = send_bytes(explorer.address, flood.as_bytes());
    assert!((400..500).contains(&answer.status), "{}", answer.status);
    let garbage = send_bytes_lenient(explorer.address, b"\x00\x01\x02 nonsense\r\n\r\n");
    assert!(garbage.is_none_or(|status| (400..500).contains(&status)));
    // A client that never finishes its request's head is let go.
    let mut slow = std::net::TcpStream::connect(explorer.address).unwrap();
    std::io::Write::write_all(
        &mut slow,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\n").as_bytes(),
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut slow, &mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    // And it serves on, with its policy.
    let page = explorer.get("/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(explorer.get(&format!("{tile}&x=0&y=0")).status, 200);
}

/// The status of the answer to `request`, if the server answered rather than closed.
fn send_bytes_lenient(address: std::net::SocketAddr, request: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).ok()?;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let head = String::from_utf8_lossy(&raw);
    head.split(' ').nth(1)?.parse().ok()
}

#[test]
fn a_flood_of_tiles_gets_503_past_the_queue_and_a_tile_gone_stops_its_work() {
    let explorer = Explorer::start(&["--threads", "1", "--max-queue", "1", "--log-level", "debug"]);
    // Slow tiles: the centre of a place on the boundary at a high limit, each limit its own.
    let place = "c=-0.7436438870371,0.1318259042053&z=1E6&h=256";
    let centre = explorer.get(&format!("/api/place?{place}")).json();
    let tile = |key: &str| {
        centre[key]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            .div_euclid(256)
    };
    let (x, y) = (tile("column"), tile("row"));
    let slow = |n: u32| format!("/api/tile?{place}&n={n}&x={x}&y={y}");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let (explorer, slow) = (&explorer, &slow);
        let asks: Vec<_> = (0..6)
            .map(|n| scope.spawn(move || explorer.get(&slow(60_000 + n)).status))
            .collect();
        asks.into_iter().map(|ask| ask.join().unwrap()).collect()
    });
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
    // A request whose client goes away: the server stops its tile.
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        slow(70_000),
        explorer.address
    );
    let mut stream = std::net::TcpStream::connect(explorer.address).unwrap();
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
    explorer
        .process
        .wait_for("went away", 1, Duration::from_secs(30));
}

#[test]
fn one_client_s_many_connections_cannot_keep_the_page_from_others() {
    let explorer = Explorer::start(&[]);
    // Every one of the server's 256 places held: half by connections kept alive after a
    // cheap request, half by heads that never end.
    let held: Vec<std::net::TcpStream> = (0..256)
        .map(|n| {
            let mut stream = std::net::TcpStream::connect(explorer.address).unwrap();
            let head = format!(
                "GET /favicon.ico HTTP/1.1\r\nHost: {}\r\n",
                explorer.address
            );
            std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
            if n % 2 == 0 {
                std::io::Write::write_all(&mut stream, b"\r\n").unwrap();
                let mut answer = Vec::new();
                let mut byte = [0];
                while !answer.ends_with(b"\r\n\r\n") {
                    std::io::Read::read_exact(&mut stream, &mut byte).unwrap();
                    answer.push(byte[0]);
                }
                assert!(answer.starts_with(b"HTTP/1.1 204"));
            }
            stream
        })
        .collect();
    // Others open the page: each time, a connection answering nothing makes room at once.
    for _ in 0..4 {
        assert_eq!(explorer.get("/").status, 200);
    }
    drop(held);
    // Every place held by a request for one tile of minutes (4,096 bits, 16,384
    // iterations): the quietest is cut after two seconds to make room.
    let slow = "/api/tile?c=-0.2,0&z=8&h=257&x=0&y=0&n=16384&f=4096&k=direct";
    let held: Vec<std::net::TcpStream> = (0..256)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(explorer.address).unwrap();
            let request = format!("GET {slow} HTTP/1.1\r\nHost: {}\r\n\r\n", explorer.address);
            std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(explorer.get("/").status, 200);
    drop(held);
}

#[test]
fn a_client_that_stops_reading_its_download_is_let_go() {
    let explorer = &Explorer::start(&[]);
    // Downloads of about 9 MB, more than the sockets' buffers hold, asked by clients that
    // never read: each holds one of the two download slots until its writes stall.
    let big = "/api/download?c=-0.7436,0.1318&z=3000&h=3000&w=3000&p=ultra";
    let stalled: Vec<std::net::TcpStream> = (0..2)
        .map(|n| {
            let stream = std::net::TcpStream::connect(explorer.address).unwrap();
            let request = format!(
                "GET {big}&n={} HTTP/1.1\r\nHost: {}\r\n\r\n",
                2000 + n,
                explorer.address
            );
            std::io::Write::write_all(&mut &stream, request.as_bytes()).unwrap();
            stream
        })
        .collect();
    // Both are computed and being sent when their heads come (peeked, not read).
    for stream in &stalled {
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.peek(&mut [0]).unwrap();
    }
    let sending = std::time::Instant::now();
    // Downloads asked now: two wait for a slot, freed when a stalled client is let go, and
    // a third is refused at once rather than hold a connection too.
    let small = "/api/download?c=-0.6,0&z=2&h=60&w=60&n=";
    let mut answers: Vec<_> = std::thread::scope(|scope| {
        let asks: Vec<_> = (0..3)
            .map(|n| scope.spawn(move || explorer.get(&format!("{small}{}", 100 + n))))
            .collect();
        asks.into_iter().map(|ask| ask.join().unwrap()).collect()
    });
    answers.sort_by_key(|answer| answer.status);
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(statuses, [200, 200, 503], "{}", answers[2].text());
    assert!(answers[2].text().contains("too many downloads"));
    decode(&answers[0].body);
    // The server lets a write go after 20 s without progress; by then both have stalled.
    let both = Duration::from_secs(25).saturating_sub(sending.elapsed());
    std::thread::sleep(both);
    // Each stalled client was let go before its PNG was sent whole.
    for stream in stalled {
        let mut received = Vec::new();
        let ended = std::io::Read::read_to_end(&mut &stream, &mut received);
        let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&received[..head_end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        let body = received.len() - head_end;
        assert!(
            body < length,
            "{body} of {length} bytes, then {ended:?}: the connection was kept"
        );
    }
}

/// The script that says whether the page's latest view has all its tiles.
const COMPLETE: &str = "const s = window.explorerStats; \
    const v = s && s.views[s.views.length - 1]; return !!v && v.complete !== null";

/// The page's pixels right of its panel, once its view is complete.
fn screen(browser: &Browser, views: usize) -> (u32, u32, Vec<u8>) {
    let enough = format!("return window.explorerStats && explorerStats.views.length >= {views}");
    browser.wait_until(&enough, "a new view", Duration::from_secs(30));
    browser.wait_until(COMPLETE, "every tile", Duration::from_secs(60));
    // One frame for the last tile to be painted.
    browser.script("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))");
    let (width, height, rgb) = decode(&browser.screenshot());
    (
        width,
        height,
        region(&rgb, width, (PANEL, width), (0, height)),
    )
}

/// The panel's right edge, with room: the pixels compared lie right of it.
const PANEL: u32 = 340;

#[test]
fn the_explorer_in_a_browser_draws_render_s_pixels_and_its_links_draw_them_again() {
    let explorer = Explorer::start(&[]);
    explore(&explorer, "explorer-browser", "serve ");
}

#[test]
fn over_kafka_the_explorer_s_tiles_come_from_calc_and_are_the_same() {
    let scenario = Scenario::new("explorer-kafka", 2);
    let calc = scenario.start("calc", "explorer-kafka", &["--threads", "2"]);
    calc.wait_assigned();
    let kafka = scenario.kafka_args();
    let flags: Vec<&str> = kafka.iter().map(String::as_str).collect();
    let explorer = Explorer::start(&flags);
    explore(&explorer, "explorer-kafka-browser", "calc ");
}

/// The jobs on `scenario`'s requests topic.
fn jobs_sent(scenario: &Scenario) -> std::collections::BTreeSet<u64> {
    read_topic(&scenario.requests(), false)
        .iter()
        .map(|message| wire::decode(rdkafka::Message::payload(message).unwrap()))
        .map(|envelope| envelope.unwrap().job_id.0)
        .collect()
}

#[test]
fn over_kafka_no_more_than_threads_tiles_wait_at_absent_workers() {
    let scenario = Scenario::new("explorer-absent", 2);
    let kafka = scenario.kafka_args();
    let mut flags: Vec<&str> = kafka.iter().map(String::as_str).collect();
    flags.extend(["--threads", "2", "--tile-timeout", "2"]);
    let explorer = Explorer::start(&flags);
    let tile = |n: u32| format!("/api/tile?c=-0.6,0&z=1&h=256&x=0&y=0&n={n}");
    let ask = |limits: std::ops::Range<u32>| -> Vec<u16> {
        let (explorer, tile) = (&explorer, &tile);
        std::thread::scope(|scope| {
            let asks: Vec<_> = limits
                .map(|n| scope.spawn(move || explorer.get(&tile(n)).status))
                .collect();
            asks.into_iter().map(|ask| ask.join().unwrap()).collect()
        })
    };
    // No worker runs: every tile times out, before and after the timeout has passed again.
    assert_eq!(ask(100..104), [504; 4]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ask(104..108), [504; 4]);
    // Two were sent, one a slot; the slots stay held while their tiles wait at the
    // workers, so no more were.
    let sent = jobs_sent(&scenario);
    assert_eq!(sent.len(), 2, "{sent:?}");
    // A worker comes: it computes those two first, and the explorer serves again.
    let calc = scenario.start("calc", "explorer-absent", &["--threads", "2"]);
    calc.wait_assigned();
    let started = std::time::Instant::now();
    while explorer.get(&tile(200)).status != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never served again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn over_kafka_requests_for_one_tile_share_a_job_and_tiles_on_new_partitions_come_back() {
    let scenario = Scenario::new("explorer-grown", 2);
    let mut calc = scenario.start("calc", "explorer-grown", &["--threads", "2"]);
    calc.wait_assigned();
    let kafka = scenario.kafka_args();
    let mut flags: Vec<&str> = kafka.iter().map(String::as_str).collect();
    // Longer than the reader takes to see new partitions (5 s).
    flags.extend(["--tile-timeout", "20"]);
    let explorer = Explorer::start(&flags);
    let tile = |n: u32| format!("/api/tile?c=-0.6,0&z=1&h=256&x=0&y=0&n={n}");
    // Six requests at once for one tile: one job, whose tile all six get.
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let (explorer, tile) = (&explorer, &tile);
        let asks: Vec<_> = (0..6)
            .map(|_| scope.spawn(move || explorer.get(&tile(100)).status))
            .collect();
        asks.into_iter().map(|ask| ask.join().unwrap()).collect()
    });
    assert_eq!(answers, [200; 6]);
    let sent = jobs_sent(&scenario);
    assert_eq!(sent.len(), 1, "{sent:?}");
    // The responses topic grows; a calc started now writes to every partition.
    scenario.add_partitions(&scenario.responses(), 8);
    calc.terminate();
    calc.wait_exit(Duration::from_secs(30));
    let calc = scenario.start("calc", "explorer-grown", &["--threads", "2"]);
    calc.wait_assigned();
    // Eight tiles, whose parts' answers fall on every partition: each comes back.
    for n in 101..109 {
        let answer = explorer.get(&tile(n));
        assert_eq!(answer.status, 200, "tile {n}: {}", answer.text());
    }
    // The requests topic grows, and an explorer started now sends to every partition at
    // once: the calc's group reads the new ones within seconds.
    scenario.add_partitions(&scenario.requests(), 8);
    let explorer = Explorer::start(&flags);
    for n in 201..205 {
        let answer = explorer.get(&tile(n));
        assert_eq!(answer.status, 200, "tile {n}: {}", answer.text());
    }
}

/// The browser test, against `explorer`: its tiles are render's, its wheel and drag move the
/// link, the link draws them again, the download is render's and names how to make it
/// again, and the overlay names `worker` as who computed each tile.
fn explore(explorer: &Explorer, name: &str, worker: &str) {
    let dir = Scratch::new(name);
    let browser = Browser::start(800, 600);
    browser.goto(&explorer.url("/"));
    let (width, height, first) = screen(&browser, 1);
    let size = browser.script("return [innerWidth, innerHeight]");
    assert_eq!(size, json!([width, height]));
    let (w, h) = (width.to_string(), height.to_string());
    let view = [
        "--center",
        "-0.6,0",
        "--zoom",
        "1.6",
        "--width",
        &w,
        "--height",
        &h,
        "--iterations",
        "200",
    ];
    let render = rendered(&view, "ultra", &dir);
    assert_eq!(
        differing(&first, &region(&render, width, (PANEL, width), (0, height))),
        0
    );

    // A wheel step in, then a drag: the URL follows.
    let start = browser.current_url();
    browser.act(json!([{ "type": "wheel", "id": "wheel", "actions": [
        { "type": "scroll", "x": 600, "y": 250, "deltaX": 0, "deltaY": -120, "origin": "viewport" }] }]));
    screen(&browser, 2);
    browser.act(
        json!([{ "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
        "actions": [
            { "type": "pointerMove", "x": 500, "y": 300, "origin": "viewport" },
            { "type": "pointerDown", "button": 0 },
            { "type": "pointerMove", "x": 430, "y": 340, "duration": 200, "origin": "viewport" },
            { "type": "pointerUp", "button": 0 }] }]),
    );
    let moved = format!(
        "return location.href !== {} && !location.href.includes('c=-0.6,0')",
        Value::from(start.clone())
    );
    browser.wait_until(&moved, "the URL to change", Duration::from_secs(30));
    let (_, _, zoomed) = screen(&browser, 2);
    let link = browser.current_url();
    assert!(link.contains("z=3.2E0"), "{link}");

    // The link, opened again, draws the same pixels.
    browser.goto(&link);
    let (_, _, again) = screen(&browser, 1);
    assert_eq!(differing(&zoomed, &again), 0, "{link}");

    // The download at the window's size: render's pixels, and its chunk renders them again.
    let script = format!(
        "document.getElementById('download-width').value = '{width}'; \
         document.getElementById('download-height').value = '{height}'; \
         document.getElementById('download-width').dispatchEvent(new Event('change')); \
         return new URL(document.getElementById('download').href).pathname + \
         new URL(document.getElementById('download').href).search"
    );
    let download = explorer.get(browser.script(&script).as_str().unwrap());
    assert_eq!(download.status, 200, "{}", download.text());
    let (_, _, downloaded) = decode(&download.body);
    assert_eq!(
        differing(
            &region(&downloaded, width, (PANEL, width), (0, height)),
            &again
        ),
        0
    );
    let chunks = texts(&download.body);
    let text = |key: &str| {
        chunks
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, t)| t.clone())
            .unwrap()
    };
    assert!(link.ends_with(&text("fixedbrot-permalink")), "{link}");
    let command = text("fixedbrot-command");
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let path = dir.join("again.png");
    let status = std::process::Command::new(BIN)
        .args(&args)
        .arg("--output")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "{command}");
    assert_eq!(pixels(&path), downloaded, "{command}");

    // The overlay names who computed each tile.
    browser.script("document.getElementById('workers').click(); return true");
    let shown = browser.script(
        "return [...document.querySelectorAll('.tile span')].map(s => \
         getComputedStyle(s).display + ' ' + s.textContent)",
    );
    let labels: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(!labels.is_empty());
    for label in labels {
        assert!(label.starts_with(&format!("block {worker}")), "{label}");
    }

    // A link the server refuses shows the default view, and says why.
    browser.goto(&explorer.url("/?c=1e400,0&z=1&n=auto"));
    let (_, _, fallen_back) = screen(&browser, 1);
    assert_eq!(differing(&fallen_back, &first), 0);
    let status = browser.script("return document.getElementById('status').textContent");
    assert!(
        status.as_str().unwrap().contains("cannot be drawn"),
        "{status}"
    );
    assert!(browser.current_url().contains("c=-0.6,0"));
}
