//! Runs `fixedbrot` processes against the real broker `just test` starts, each test on its
//! own topics and consumer groups so tests run in parallel.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use fixedbrot_tests::scratch::Scratch;

pub const BIN: &str = env!("CARGO_BIN_EXE_fixedbrot");

pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// One test's names: topics, groups and a scratch directory, all unique to it.
pub struct Scenario {
    pub name: String,
    pub dir: Scratch,
    pub brokers: String,
}

impl Scenario {
    pub fn new(test: &str, partitions: u32) -> Scenario {
        Scenario::on(&brokers(), test, partitions)
    }

    /// A scenario on other brokers than the shared test broker.
    pub fn on(brokers: &str, test: &str, partitions: u32) -> Scenario {
        let scenario = Scenario::named(brokers, test);
        let mut topics = scenario.topics(partitions);
        let status = topics.wait_exit(Duration::from_secs(60));
        assert!(
            status.success(),
            "creating topics on {} (is the broker up? `just kafka-up`): {}",
            scenario.brokers,
            topics.log()
        );
        scenario
    }

    /// A scenario whose topics do not exist yet.
    pub fn named(brokers: &str, test: &str) -> Scenario {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = Scratch::new(&format!("{test}-{nanos}"));
        Scenario {
            name: dir.file_name().unwrap().to_string_lossy().into_owned(),
            dir,
            brokers: brokers.into(),
        }
    }

    /// `fixedbrot topics` for this scenario, running.
    pub fn topics(&self, partitions: u32) -> Process {
        self.topics_with(&["--partitions", &partitions.to_string()])
    }

    /// `fixedbrot topics` for this scenario with these flags, running.
    pub fn topics_with(&self, flags: &[&str]) -> Process {
        let mut command = Command::new(BIN);
        command.arg("topics").args(self.kafka_args()).args(flags);
        Process::spawn(command, "topics")
    }

    /// A client of this scenario's brokers, and what they say of `topic`, asked afresh.
    pub fn metadata(
        &self,
        topic: &str,
    ) -> (rdkafka::consumer::BaseConsumer, rdkafka::metadata::Metadata) {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let client: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .unwrap();
        let metadata = client
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        (client, metadata)
    }

    /// Messages on `topic` so far, committed or not.
    pub fn produced(&self, topic: &str) -> i64 {
        use rdkafka::consumer::Consumer;
        let (consumer, metadata) = self.metadata(topic);
        metadata.topics()[0]
            .partitions()
            .iter()
            .map(|p| {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    .unwrap();
                high - low
            })
            .sum()
    }

    /// Waits until `topic` holds at least `count` messages, committed or not.
    pub fn wait_produced(&self, topic: &str, count: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.produced(topic) < count {
            assert!(
                Instant::now() < deadline,
                "{topic}: no {count} messages in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn requests(&self) -> String {
        format!("{}.requests", self.name)
    }

    pub fn responses(&self) -> String {
        format!("{}.responses", self.name)
    }

    pub fn kafka_args(&self) -> Vec<String> {
        vec![
            "--brokers".into(),
            self.brokers.clone(),
            "--requests-topic".into(),
            self.requests(),
            "--responses-topic".into(),
            self.responses(),
        ]
    }

    /// A process of this scenario, in consumer group `group` (if it consumes).
    pub fn start(&self, subcommand: &str, group: &str, extra: &[&str]) -> Process {
        let command = self.command(subcommand, group, extra);
        Process::spawn(command, &format!("{subcommand} {group}"))
    }

    /// The command [`Scenario::start`] runs, to add to before it runs.
    pub fn command(&self, subcommand: &str, group: &str, extra: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.arg(subcommand).args(self.kafka_args());
        if !group.is_empty() {
            command.args(["-X", &format!("group.id={}.{group}", self.name)]);
        }
        command.args(extra);
        command
    }

    /// Runs `generate` with these view flags to the end; returns its stdout (job id, count).
    pub fn generate(&self, view: &[&str]) -> String {
        let output = Command::new(BIN)
            .arg("generate")
            .args(self.kafka_args())
            .args(view)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "generate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Scenario {
    /// The consumer group `group` of this scenario, as [`Scenario::start`] names it.
    pub fn group(&self, group: &str) -> String {
        format!("{}.{group}", self.name)
    }

    /// The offsets `group` committed on `topic`, by partition (`None`: nothing committed).
    pub fn committed(&self, group: &str, topic: &str) -> Vec<Option<i64>> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let (_, metadata) = self.metadata(topic);
        let mut list = rdkafka::TopicPartitionList::new();
        for partition in metadata.topics()[0].partitions() {
            list.add_partition(topic, partition.id());
        }
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", self.group(group))
            .create()
            .unwrap();
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .unwrap();
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                rdkafka::Offset::Offset(offset) => Some(offset),
                _ => None,
            })
            .collect()
    }

    /// Sets a topic setting, as an operator would with kafka-configs.
    pub fn alter_topic(&self, topic: &str, key: &str, value: &str) {
        use rdkafka::admin::{AlterConfig, ResourceSpecifier};
        let config = AlterConfig::new(ResourceSpecifier::Topic(topic)).set(key, value);
        let results = block_on(self.admin().alter_configs(&[config], &admin_options())).unwrap();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    /// Gives a topic more partitions, as an operator would with kafka-topics --alter.
    pub fn add_partitions(&self, topic: &str, total: usize) {
        use rdkafka::admin::NewPartitions;
        let more = NewPartitions::new(topic, total);
        let results = block_on(self.admin().create_partitions(&[more], &admin_options())).unwrap();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    fn admin(&self) -> rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> {
        rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .unwrap()
    }
}

fn admin_options() -> rdkafka::admin::AdminOptions {
    rdkafka::admin::AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))
}

pub use fixedbrot::kafka::block_on;

/// The RGB bytes of a PNG written by `render` with these view flags.
pub fn rendered(view: &[&str], palette: &str, dir: &Path) -> Vec<u8> {
    // Named by a hash of the flags: a deep zoom's centre is longer than a file name may be.
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (view, palette).hash(&mut hasher);
    let path = dir.join(format!("render-{:016x}.png", hasher.finish()));
    let status = Command::new(BIN)
        .arg("render")
        .args(view)
        .args(["--palette", palette, "--output"])
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    pixels(&path)
}

/// The decoded RGB bytes of every PNG in `dir`, sorted: what a test compares to renders.
pub fn pngs_in(dir: &Path) -> Vec<Vec<u8>> {
    let mut images: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .map(|p| pixels(&p))
        .collect();
    images.sort();
    images
}

/// The decoded RGB bytes of a PNG.
pub fn pixels(path: &Path) -> Vec<u8> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    buf
}

/// A producer on the test broker, for messages no role would send.
pub fn producer() -> rdkafka::producer::BaseProducer {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap()
}

/// Every message on `topic`, read by a consumer group of its own until none came for 4 s (30 s
/// at most); with `read_committed`, only those of committed transactions (and those sent
/// outside any).
pub fn read_topic(topic: &str, read_committed: bool) -> Vec<rdkafka::message::OwnedMessage> {
    read_topic_from(&brokers(), topic, read_committed)
}

/// [`read_topic`] on other brokers than the shared test broker, uncommitted too.
pub fn read_topic_on(brokers: &str, topic: &str) -> Vec<rdkafka::message::OwnedMessage> {
    read_topic_from(brokers, topic, false)
}

fn read_topic_from(
    brokers: &str,
    topic: &str,
    read_committed: bool,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let isolation = if read_committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("{topic}.reader.{isolation}"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation)
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut idle_since = Instant::now();
    while Instant::now() < deadline && idle_since.elapsed() < Duration::from_secs(4) {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            messages.push(message.detach());
            idle_since = Instant::now();
        }
    }
    messages
}

/// A running `fixedbrot` whose stderr lines are collected, killed when dropped.
pub struct Process {
    child: Child,
    label: String,
    lines: Arc<(Mutex<Log>, Condvar)>,
}

/// The stderr lines so far, and whether the stream has ended.
#[derive(Default)]
pub struct Log {
    lines: Vec<String>,
    ended: bool,
}

impl Process {
    pub fn spawn(mut command: Command, label: &str) -> Process {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            let (store, signal) = &*sink;
            // A test that failed while waiting leaves the lock poisoned; the log goes on.
            let lock = || store.lock().unwrap_or_else(|p| p.into_inner());
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                lock().lines.push(line);
                signal.notify_all();
            }
            lock().ended = true;
            signal.notify_all();
        });
        Process {
            child,
            label: label.into(),
            lines,
        }
    }

    /// Waits until `count` stderr lines contain `needle`; panics with the log on timeout.
    pub fn wait_for(&self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (store, signal) = &*self.lines;
        let mut log = store.lock().unwrap();
        while log.lines.iter().filter(|l| l.contains(needle)).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{}: no {count} x {needle:?} within {timeout:?}; log:\n{}",
                self.label,
                log.lines.join("\n")
            );
            log = signal.wait_timeout(log, left).unwrap().0;
        }
    }

    /// The partitions this process was assigned, once it has them (before anyone produces).
    pub fn wait_assigned(&self) {
        self.wait_for("Partitions assigned", 1, Duration::from_secs(30));
    }

    pub fn log(&self) -> String {
        self.lines.0.lock().unwrap().lines.join("\n")
    }

    /// Waits for the process to exit and for its last log lines; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The process may exit before the reader has taken its last lines, the error
                // that says why among them.
                let (store, signal) = &*self.lines;
                let log = store.lock().unwrap();
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_secs(5));
                drop(
                    signal
                        .wait_timeout_while(log, left, |log| !log.ended)
                        .unwrap(),
                );
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit; log:\n{}",
                self.label,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit; whether it did within `timeout`.
    pub fn try_wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM, as a service manager stopping the process would.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A broker of a test's own, or a cluster, from `port` on, started by the project's script
/// and deleted on drop.
pub struct OwnBroker {
    port: u16,
    nodes: u16,
}

impl OwnBroker {
    pub fn start(port: u16) -> OwnBroker {
        OwnBroker::cluster(port, 1)
    }

    /// `nodes` brokers, each a controller too: node i serves on `port + 2 (i - 1)`.
    pub fn cluster(port: u16, nodes: u16) -> OwnBroker {
        let broker = OwnBroker { port, nodes };
        broker.up();
        broker
    }

    /// Every node's address: clients bootstrap from all of them.
    pub fn address(&self) -> String {
        (1..=self.nodes)
            .map(|node| format!("127.0.0.1:{}", self.node_port(node)))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn node_port(&self, node: u16) -> u16 {
        self.port + 2 * (node - 1)
    }

    /// Starts every node not running (one killed rejoins), and waits until each answers.
    pub fn up(&self) {
        self.script(&["up", "--brokers", &self.nodes.to_string()]);
    }

    /// Stops every node, keeping its data.
    pub fn stop(&self) {
        self.script(&["stop"]);
    }

    /// Sends node `node` a signal: STOP pauses it (it answers nothing, as a hung or
    /// partitioned broker), CONT resumes it.
    pub fn signal_node(&self, node: u16, signal: &str) {
        let pid_file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../.kafka/{}/pid", self.node_port(node)));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid.trim()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Kills node `node` with SIGKILL, as a crash would.
    pub fn kill_node(&self, node: u16) {
        let pid_file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../.kafka/{}/pid", self.node_port(node)));
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        let status = Command::new("kill")
            .args(["-9", pid.trim()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -9 {pid}");
    }

    /// Runs `scripts/kafka` with `args` for this broker.
    fn script(&self, args: &[&str]) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka");
        let status = Command::new(script)
            .args(args)
            .env("KAFKA_PORT", self.port.to_string())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "scripts/kafka {args:?} on port {}",
            self.port
        );
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.script(&["down"]);
    }
}

/// The firmware on QEMU's lm3s6965evb, its UART0 a TCP server on a free loopback port that
/// waits for the bridge before the board starts.
pub struct EmulatedBoard {
    pub qemu: Child,
    pub port: u16,
}

impl EmulatedBoard {
    pub fn boot() -> EmulatedBoard {
        EmulatedBoard::boot_on(fixedbrot_tests::board::Machine::Lm3s6965)
    }

    pub fn boot_on(machine: fixedbrot_tests::board::Machine) -> EmulatedBoard {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let qemu = fixedbrot_tests::board::qemu(
            machine,
            &format!("tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"),
        );
        // Wait until QEMU listens.
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "QEMU did not open port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        EmulatedBoard { qemu, port }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn kill(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}

impl Drop for EmulatedBoard {
    fn drop(&mut self) {
        self.kill();
    }
}
