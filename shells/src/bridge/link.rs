//! The byte links to a board: a serial device, or a UART behind TCP (QEMU's `-serial tcp:`).
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// A byte link to a board.
pub trait Link {
    /// Sends bytes, paced for the line.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The next byte, or `None` if none came within a short wait (about 100 ms).
    fn byte(&mut self) -> io::Result<Option<u8>>;
    /// How long `bytes` take on the line.
    fn transfer_time(&self, bytes: usize) -> Duration;
}

/// A UART behind a TCP socket (QEMU's `-serial tcp:...`, or a serial server).
pub struct TcpLink(BufReader<TcpStream>);

impl TcpLink {
    pub fn connect(address: &str) -> io::Result<TcpLink> {
        let stream =
            TcpStream::connect(address).map_err(|e| context(e, "connecting to", address))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| context(e, "configuring the connection to", address))?;
        Ok(TcpLink(BufReader::new(stream)))
    }
}

impl Link for TcpLink {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.get_mut().write_all(bytes)
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        let mut byte = [0u8];
        match self.0.read(&mut byte) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the board closed the line",
            )),
            Ok(_) => Ok(Some(byte[0])),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn transfer_time(&self, _: usize) -> Duration {
        Duration::ZERO
    }
}

/// A serial device at `baud`, 8N1, raw, no flow control; a read returns after 100 ms of
/// silence.
pub struct SerialLink {
    port: Box<dyn serialport::SerialPort>,
    baud: u32,
}

/// A UART's receive FIFO (16 bytes on the LM3S6965): the most sent before letting the line
/// drain, since real UARTs have no flow control.
const UART_FIFO: usize = 16;

impl SerialLink {
    pub fn open(device: &Path, baud: u32) -> io::Result<SerialLink> {
        let port = serialport::new(device.to_string_lossy(), baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(100))
            .open()
            .map_err(|e| {
                let at = format!("{} at {baud} baud", device.display());
                context(io::Error::other(e), "opening", &at)
            })?;
        Ok(SerialLink { port, baud })
    }
}

impl Link for SerialLink {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        for chunk in bytes.chunks(UART_FIFO) {
            self.port.write_all(chunk)?;
            std::thread::sleep(self.transfer_time(chunk.len()));
        }
        Ok(())
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        let mut byte = [0u8];
        match self.port.read(&mut byte) {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(byte[0])),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn transfer_time(&self, bytes: usize) -> Duration {
        // 10 bits a byte: start, 8 data, stop.
        Duration::from_micros(bytes as u64 * 10 * 1_000_000 / u64::from(self.baud.max(1)))
    }
}

/// An error with what was being done, and to what.
fn context(error: io::Error, doing: &str, what: &str) -> io::Error {
    io::Error::new(error.kind(), format!("{doing} {what}: {error}"))
}
