//! TCP_QUICKACK on guests' sockets, so that a join does not wait on a delayed ACK; and the
//! stamp of each read and write on the connection's [`Activity`], which tells the admission
//! whether a connection still authenticating is making progress.

use std::sync::Arc;

use tokio::net::TcpStream;

use crate::admission::Activity;

/// A guest's TCP stream that acknowledges what it reads at once (TCP_QUICKACK after every read).
///
/// OpenSSH clients send the key exchange as two small writes with Nagle's algorithm on (they
/// turn it off only once the session is interactive): KEXINIT, then KEXDH_INIT. We have nothing
/// to answer KEXINIT with, so a delayed ACK would hold KEXDH_INIT back for 40 ms, most of a
/// join. Linux leaves quick-ack mode by itself, hence the call after every read. Elsewhere
/// this is a plain stream (`platform`).
pub(super) struct QuickAck(pub(super) TcpStream, pub(super) Arc<Activity>);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if r.is_ready() {
            crate::platform::quick_ack(&self.0);
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
