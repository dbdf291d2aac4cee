//! The SIP path's own thread: a current-thread tokio runtime on an OS thread of its own
//! that runs the SIP sockets' receive tasks (UDP readers, TCP and TLS acceptors and
//! connections) and the SIP driver (decision 0052).
//!
//! On the shared multi-thread runtime a SIP message waited for its turn behind the call
//! tasks, thousands of them woken by every RTP packet: with 600 bridged, recorded calls on
//! a busy machine a message waited 88 ms on average for the driver
//! (`switchboard_sip_inbound_wait_seconds`), and an agent's 200 OK that long before its
//! call could connect the bridge. On a thread of its own the SIP path is scheduled by the
//! kernel beside the runtime's workers, not behind their run queue.
//!
//! It is not a second SIP stack or a second owner of SIP state: the driver is still the
//! one task that owns the B2BUA and the registrar; the call tasks, the ACD and the HTTP
//! API stay on the main runtime and reach the driver through the same channels (which do
//! not care which runtime their ends run on).

use std::io;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The running SIP thread; stopping it (drop) ends every task spawned on it.
pub(crate) struct SipThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SipThread {
    /// Starts the thread and its runtime (timers and I/O enabled), idle until tasks are
    /// spawned on [`handle`](Self::handle).
    pub(crate) fn start() -> io::Result<SipThread> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("switchboard-sip".into())
            .spawn(move || {
                // Runs the spawned tasks until told to stop (or the sender is dropped).
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(SipThread {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where the SIP tasks are spawned.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for SipThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn tasks_run_on_the_sip_thread_and_sockets_bound_there_work_from_elsewhere() {
        let sip = SipThread::start().expect("sip thread");
        // Bound on the SIP thread's runtime, so its reactor drives the socket.
        let sock = sip
            .handle()
            .spawn(async {
                let name = std::thread::current().name().map(str::to_owned);
                (tokio::net::UdpSocket::bind("127.0.0.1:0").await, name)
            })
            .await
            .expect("joined");
        let (sock, name) = (sock.0.expect("bind"), sock.1);
        assert_eq!(name.as_deref(), Some("switchboard-sip"));
        let at = sock.local_addr().expect("addr");
        // A receive task on the SIP thread gets a datagram sent from this runtime.
        let got = sip.handle().spawn(async move {
            let mut buf = [0u8; 16];
            let (n, _) = sock.recv_from(&mut buf).await.expect("recv");
            buf[..n].to_vec()
        });
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("peer");
        peer.send_to(b"OPTIONS", at).await.expect("send");
        assert_eq!(got.await.expect("joined"), b"OPTIONS");
        drop(sip);
    }
}
