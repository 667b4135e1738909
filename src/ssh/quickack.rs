//! TCP_QUICKACK on guests' sockets, so that a join does not wait on a delayed ACK; and the
//! stamp of each read and write on the connection's [`Activity`], which tells the admission
//! whether a connection still authenticating is making progress.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::admission::Activity;

/// A guest's TCP stream that acknowledges what it reads at once (TCP_QUICKACK after every read)
/// until its terminal session opens.
///
/// OpenSSH clients send the key exchange as two small writes with Nagle's algorithm on (they
/// turn it off only once the session is interactive): KEXINIT, then KEXDH_INIT. We have nothing
/// to answer KEXINIT with, so a delayed ACK would hold KEXDH_INIT back for 40 ms, most of a
/// join. Linux leaves quick-ack mode by itself, hence the call after every read. Once the
/// session is open, the ACK of a keystroke rides on its echo instead: no packet and no call of
/// its own on the echo's way. Elsewhere this is a plain stream (`platform`).
pub(super) struct QuickAck(TcpStream, Arc<Activity>, Arc<AtomicBool>);

impl QuickAck {
    /// The stream, and the switch that ends quick acknowledgement (store false).
    pub(super) fn new(tcp: TcpStream, activity: Arc<Activity>) -> (QuickAck, Arc<AtomicBool>) {
        let quick = Arc::new(AtomicBool::new(true));
        (QuickAck(tcp, activity, Arc::clone(&quick)), quick)
    }
}

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if r.is_ready() {
            if self.2.load(Ordering::Relaxed) {
                crate::platform::quick_ack(&self.0);
            }
            if buf.filled().len() > before {
                self.1.stamp();
            }
        }
        r
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.0).poll_write(cx, buf);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.1.stamp();
        }
        r
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs);
        if matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.1.stamp();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
