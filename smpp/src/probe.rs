//! A one-shot bind probe: connect from a chosen local address, send one bind, read the
//! status of the answer, close. For health checks, benchmarks and tests that must look like
//! a different client (another source address) or a hostile one (a bind and nothing else),
//! without the session machinery of [`crate::Client`].

use std::{io, net::SocketAddr, time::Duration};

use rusmpp::{Command, CommandStatus};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpSocket,
};

use crate::{bind::BindRequest, frame};

/// Longest answer read: a bind_resp is a header, a system_id and perhaps a TLV.
const MAX_RESPONSE: usize = 1024;

/// Binds once to `server` from `local` (port 0 for any) and returns the status the server
/// answered. Errors when the connection fails, the bind cannot be encoded, or no well-formed
/// answer comes within `limit`.
pub async fn bind_status(
    local: SocketAddr,
    server: SocketAddr,
    bind: &BindRequest,
    limit: Duration,
) -> io::Result<CommandStatus> {
    let pdu = bind
        .to_pdu()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let bytes = frame::encode_to_vec(&Command::new(CommandStatus::EsmeRok, 1, pdu));
    let exchange = async {
        let socket = if local.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(local)?;
        let mut stream = socket.connect(server).await?;
        stream.write_all(&bytes).await?;
        let length = stream.read_u32().await? as usize;
        if !(16..=MAX_RESPONSE).contains(&length) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bind answer of {length} bytes"),
            ));
        }
        let mut rest = vec![0u8; length - 4];
        stream.read_exact(&mut rest).await?;
        let status = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        Ok(CommandStatus::from(status))
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no bind answer in time"))?
}
