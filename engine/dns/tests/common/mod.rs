//! What the server tests share: DNS clients and fake upstream servers on loopback.

#![allow(dead_code)] // each test file uses its own part

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Long enough for a loaded 2-core machine; a test that waits this long has failed anyway.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn query(name: &str, rtype: RecordType) -> Message {
    let mut msg = Message::query();
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    msg
}

pub async fn ask_udp(server: SocketAddr, msg: &Message) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&msg.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = vec![0; 65535];
    let (n, _) = tokio::time::timeout(PATIENCE, socket.recv_from(&mut buf))
        .await
        .expect("an answer over UDP")
        .unwrap();
    let resp = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(resp.metadata.id, msg.metadata.id);
    resp
}

pub async fn ask_tcp(server: SocketAddr, msg: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.unwrap();
    write_framed(&mut stream, &msg.to_vec().unwrap()).await;
    let bytes = tokio::time::timeout(PATIENCE, read_framed(&mut stream))
        .await
        .expect("an answer over TCP")
        .unwrap();
    let resp = Message::from_vec(&bytes).unwrap();
    assert_eq!(resp.metadata.id, msg.metadata.id);
    resp
}

pub async fn write_framed(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
}

pub async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u16().await?;
    let mut bytes = vec![0; usize::from(len)];
    stream.read_exact(&mut bytes).await?;
    Ok(bytes)
}

pub fn a_records(resp: &Message) -> Vec<Ipv4Addr> {
    resp.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

/// How a fake upstream answers each query.
#[derive(Clone, Copy)]
pub enum Upstream {
    /// An A record of this address for the asked name.
    Answer(Ipv4Addr),
    /// A response with this code and no answer.
    Code(ResponseCode),
    /// Nothing at all.
    Silent,
}

fn upstream_reply(query: &[u8], how: Upstream) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut resp = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    resp.queries = query.queries.clone();
    match how {
        Upstream::Answer(ip) => {
            let name = query.queries[0].name().clone();
            resp.answers = vec![Record::from_rdata(name, 30, RData::A(A(ip)))];
        }
        Upstream::Code(code) => resp.metadata.response_code = code,
        Upstream::Silent => return None,
    }
    Some(resp.to_vec().unwrap())
}

/// A fake upstream nameserver on 127.0.0.1, UDP and TCP on one port; it records the names it
/// was asked. It ends with the test's runtime.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    asked: std::sync::Arc<parking_lot::Mutex<Vec<String>>>,
}

impl FakeUpstream {
    pub async fn start(how: Upstream) -> FakeUpstream {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).await.unwrap();
        let asked = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        let record = asked.clone();
        let note = move |bytes: &[u8]| {
            if let Ok(msg) = Message::from_vec(bytes) {
                record.lock().push(msg.queries[0].name().to_ascii());
            }
        };
        let note_tcp = note.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 65535];
            while let Ok((n, peer)) = udp.recv_from(&mut buf).await {
                note(&buf[..n]);
                if let Some(reply) = upstream_reply(&buf[..n], how) {
                    let _ = udp.send_to(&reply, peer).await;
                }
            }
        });
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let note = note_tcp.clone();
                tokio::spawn(async move {
                    while let Ok(query) = read_framed(&mut stream).await {
                        note(&query);
                        match upstream_reply(&query, how) {
                            Some(reply) => write_framed(&mut stream, &reply).await,
                            None => std::future::pending::<()>().await,
                        }
                    }
                });
            }
        });
        FakeUpstream { addr, asked }
    }

    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().clone()
    }
}
