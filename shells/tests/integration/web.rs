//! The web's side of the explorer's tests: `fixedbrot serve` started on a free port, plain
//! HTTP/1.1 requests that may be hostile, and a real headless Chromium driven over W3C
//! WebDriver by Debian's `chromedriver`.
//!
//! The WebDriver client is these few calls over HTTP and JSON rather than fantoccini, whose
//! `webdriver` dependency brings 224 crates (ICU's segmenter data among them) to every build
//! of the tests for the seven endpoints used here.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{Process, BIN};

/// A running explorer and its address.
pub struct Explorer {
    pub process: Process,
    pub address: SocketAddr,
}

impl Explorer {
    pub fn start(flags: &[&str]) -> Explorer {
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags);
        let process = Process::spawn(command, "serve");
        process.wait_for("Explorer at http://", 1, Duration::from_secs(30));
        let log = process.log();
        let at = log.find("http://").unwrap() + "http://".len();
        let address = log[at..].split('/').next().unwrap().parse().unwrap();
        Explorer { process, address }
    }

    /// `GET path`, the whole answer.
    pub fn get(&self, path: &str) -> Answer {
        self.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        ))
    }

    /// Sends `request` as it is, and reads the answer to the end.
    pub fn send(&self, request: &str) -> Answer {
        send_bytes(self.address, request.as_bytes())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// An HTTP answer: status, headers (names in lower case) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

pub fn send_bytes(address: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request).unwrap();
    parse(&read_answer(&mut stream))
}

/// An answer's bytes: to its Content-Length, its last chunk, or the end of the stream
/// (chromedriver keeps the connection open whatever the request says).
fn read_answer(stream: &mut TcpStream) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut buf = [0; 65536];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if raw.is_empty() => panic!("no answer: {e}"),
            Err(_) => 0,
        };
        raw.extend_from_slice(&buf[..n]);
        if n == 0 {
            return raw;
        }
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok());
        match length {
            Some(length) if raw.len() >= end + 4 + length => return raw,
            None if head.contains("transfer-encoding: chunked") && raw.ends_with(b"0\r\n\r\n") => {
                return raw
            }
            _ => {}
        }
    }
}

fn parse(raw: &[u8]) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line + 2..line + 2 + size]);
        body = &body[line + 2 + size + 2..];
    }
}

/// A free port on the loopback, for a process that must be told one.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A headless Chromium under `chromedriver`, one session, closed when dropped.
pub struct Browser {
    _driver: Process,
    address: SocketAddr,
    session: String,
}

impl Browser {
    /// A browser whose page is `width` x `height` CSS pixels, one device pixel each.
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}"));
        let driver = Process::spawn(command, "chromedriver");
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(address).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start: {}",
                driver.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut options = json!({ "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            format!("--window-size={width},{height}"), "--force-device-scale-factor=1",
            "--force-color-profile=srgb", "--hide-scrollbars",
        ]});
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = "/usr/bin/chromium".into();
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options } } });
        let started = call(address, "POST", "/session", Some(&capabilities));
        let session = started["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{started}"))
            .to_owned();
        Browser {
            _driver: driver,
            address,
            session,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        call(self.address, method, &path, body)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    pub fn current_url(&self) -> String {
        self.call("GET", "/url", None).as_str().unwrap().to_owned()
    }

    /// Runs `script` (a function body: `return ...`) in the page.
    pub fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Runs `script` until it returns true; panics with `what` after `timeout`.
    pub fn wait_until(&self, script: &str, what: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.script(script) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "{what} within {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The page as a PNG's bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        base64(self.call("GET", "/screenshot", None).as_str().unwrap())
    }

    /// Performs input `actions` (W3C WebDriver's action sequences).
    pub fn act(&self, actions: Value) {
        self.call("POST", "/actions", Some(&json!({ "actions": actions })));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = std::panic::catch_unwind(|| call(self.address, "DELETE", &path, None));
    }
}

/// One WebDriver command; its `value`.
fn call(address: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Value {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = send_bytes(address, request.as_bytes());
    let value = answer.json()["value"].clone();
    assert_eq!(answer.status, 200, "WebDriver {method} {path}: {value}");
    value
}

fn base64(text: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(digit).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &d)| acc | u32::from(d) << (18 - 6 * i));
            let bytes = bits.to_be_bytes();
            bytes[1..chunk.len()].to_vec()
        })
        .collect()
}
