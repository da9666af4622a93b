//! A forward proxy of the kinds kubectl goes through: HTTP CONNECT (a
//! corporate `HTTPS_PROXY`) and SOCKS5 (`ssh -D` to a bastion). It records
//! each target it is asked for, and reaches every `*.proxied.test` name at
//! 127.0.0.1, a name nothing else resolves: a client that connects to one
//! went through the proxy.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The domain whose names only the proxy resolves (to 127.0.0.1).
pub const PROXIED_DOMAIN: &str = "proxied.test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    Connect,
    Socks5,
}

/// A running proxy; stops when dropped.
pub struct ForwardProxy {
    address: SocketAddr,
    kind: ProxyKind,
    targets: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ForwardProxy {
    /// Listens on 127.0.0.1 (an unused port).
    pub async fn start(kind: ProxyKind) -> std::io::Result<ForwardProxy> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let targets = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&targets);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let _ = serve(kind, client, recorded).await;
                });
            }
        });
        Ok(ForwardProxy {
            address,
            kind,
            targets,
            task,
        })
    }

    /// `http://127.0.0.1:PORT` or `socks5://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::Connect => "http",
            ProxyKind::Socks5 => "socks5",
        };
        format!("{scheme}://{}", self.address)
    }

    /// The `host:port` targets asked for since the last call.
    pub fn take_targets(&self) -> Vec<String> {
        std::mem::take(&mut self.targets.lock().unwrap())
    }
}

impl Drop for ForwardProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    kind: ProxyKind,
    mut client: TcpStream,
    recorded: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let target = match kind {
        ProxyKind::Connect => connect_request(&mut client).await?,
        ProxyKind::Socks5 => socks5_request(&mut client).await?,
    };
    recorded.lock().unwrap().push(target.clone());
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| std::io::Error::other("target without a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let reached = if host.ends_with(&format!(".{PROXIED_DOMAIN}")) {
        "127.0.0.1"
    } else {
        host
    };
    let mut upstream =
        TcpStream::connect((reached, port.parse::<u16>().map_err(std::io::Error::other)?)).await;
    let reply: &[u8] = match (&upstream, kind) {
        (Ok(_), ProxyKind::Connect) => b"HTTP/1.1 200 Connection established\r\n\r\n",
        (Err(_), ProxyKind::Connect) => b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
        (Ok(_), ProxyKind::Socks5) => &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0],
        (Err(_), ProxyKind::Socks5) => &[5, 4, 0, 1, 0, 0, 0, 0, 0, 0],
    };
    client.write_all(reply).await?;
    if let Ok(upstream) = &mut upstream {
        tokio::io::copy_bidirectional(&mut client, upstream).await?;
    }
    Ok(())
}

/// `CONNECT host:port HTTP/1.1` and its headers; returns `host:port`.
async fn connect_request(client: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        if client.read(&mut byte).await? == 0 || head.len() > 8192 {
            return Err(std::io::Error::other("no CONNECT request"));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    match head.split_whitespace().collect::<Vec<_>>()[..] {
        ["CONNECT", target, ..] => Ok(target.to_string()),
        _ => Err(std::io::Error::other("not a CONNECT request")),
    }
}

/// RFC 1928's greeting (no authentication) and CONNECT; returns `host:port`.
async fn socks5_request(client: &mut TcpStream) -> std::io::Result<String> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    client.write_all(&[5, 0]).await?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut length = [0u8];
            client.read_exact(&mut length).await?;
            let mut name = vec![0u8; usize::from(length[0])];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            format!("[{}]", std::net::Ipv6Addr::from(ip))
        }
        other => return Err(std::io::Error::other(format!("address type {other}"))),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    Ok(format!("{host}:{}", u16::from_be_bytes(port)))
}
