//! One HTTPS viewer's TLS connection once it is a WebSocket, driven by its outlet.
//!
//! The fan-out writes each frame, encoded once, to every viewer with a non-blocking write and
//! no task woken per viewer. Over TLS each viewer has its own keys, so the outlet owns the
//! viewer's `rustls::ServerConnection`: the shared message is encrypted into that connection's
//! own buffer ([`Link::seal`]), and the records go to the socket with the same non-blocking
//! writes as plain HTTP ([`Link::flush`]). What the socket does not take stays in the
//! connection's buffer, which the outlet treats as its backlog: a slow viewer still holds at
//! most one frame, encrypted.

use std::io::{self, Read, Write};

use rustls::ServerConnection;
use tokio::net::TcpStream;

/// A viewer's TLS connection, taken back from the handshake's stream.
pub struct Link {
    /// Boxed: a rustls connection is kilobytes, and a plain-HTTP viewer's outlet (whose
    /// `Option<Link>` is `None`) should not carry its size.
    conn: Box<ServerConnection>,
}

impl Link {
    pub fn new(mut conn: ServerConnection) -> Link {
        // rustls caps its send buffer at 64 KiB by default and then takes only part of a write;
        // a whole screen's frame can be larger. The outlet bounds what waits instead: a frame
        // is never offered while one is still being written.
        conn.set_buffer_limit(None);
        Link {
            conn: Box::new(conn),
        }
    }

    /// Encrypts `msg` into this viewer's buffer, after whatever waits there.
    pub fn seal(&mut self, msg: &[u8]) -> io::Result<()> {
        self.conn.writer().write_all(msg)
    }

    /// Whether encrypted bytes wait for the socket.
    pub fn pending(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes what waits until the socket takes no more; the bytes written. An error other
    /// than a full socket means the viewer is gone.
    pub fn flush(&mut self, stream: &TcpStream) -> io::Result<usize> {
        let mut written = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut Socket(stream)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Reads what the viewer sent, decrypted, without waiting: `WouldBlock` when the socket
    /// has nothing more now, `Ok(0)` or an error when the viewer closed. What rustls has to
    /// answer (an alert, a key update) waits in the buffer for [`Link::flush`].
    pub fn read(&mut self, stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            // After the end of the stream (a read of 0), the reader above says so next turn.
            self.conn.read_tls(&mut Socket(stream))?;
            if let Err(e) = self.conn.process_new_packets() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }
}

/// The socket as rustls reads and writes it: never waiting, `WouldBlock` when it would.
struct Socket<'a>(&'a TcpStream);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_plain_viewers_outlet_carries_a_pointer_not_a_tls_connection() {
        let size = std::mem::size_of::<Option<super::Link>>();
        assert_eq!(size, std::mem::size_of::<usize>());
    }
}
