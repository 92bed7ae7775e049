//! Telling a service manager (systemd, `Type=notify`) that the host is ready, so that a
//! `systemctl reload` (SIGHUP) is only sent once reef handles it, and `systemctl start` returns
//! once the API answers.

use std::os::unix::net::UnixDatagram;

/// Sends `READY=1` to `$NOTIFY_SOCKET` when it is set (a path, or `@name` for an abstract
/// socket); does nothing otherwise. Failures are logged, never fatal: the host works without.
pub fn notify_ready() {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(error) = send(&socket.to_string_lossy(), b"READY=1") {
        tracing::warn!(%error, "could not tell the service manager that reef is ready");
    }
}

fn send(socket: &str, message: &[u8]) -> std::io::Result<()> {
    let datagram = UnixDatagram::unbound()?;
    match socket.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            datagram.send_to_addr(message, &addr)?;
        }
        None => {
            datagram.send_to(message, socket)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_reaches_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        send(&path.to_string_lossy(), b"READY=1").unwrap();
        let mut buf = [0u8; 16];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
