//! A scriptable upstream server for resolver tests: it answers, drops,
//! delays, lies and truncates on command, and logs every query it gets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// What the fake does with the next queries.
#[derive(Clone, Debug, PartialEq)]
pub enum Behaviour {
    /// Answers (see `FakeUpstream::answer`), records with this TTL.
    Answer { ttl: u32 },
    /// Answers after a delay.
    Delay { ttl: u32, delay: Duration },
    /// Never answers.
    Drop,
    /// Answers with the ID off by one.
    WrongId,
    /// Answers a different question.
    WrongQuestion,
    /// Sends bytes that are not DNS, with the right ID.
    Garbage,
    /// TC=1 and no records over UDP; the whole answer over TCP.
    Truncate { ttl: u32 },
    /// SERVFAIL.
    ServFail,
    /// A server from before EDNS: FORMERR (and no OPT) to any query that
    /// carries OPT; answers the rest.
    NoEdns { ttl: u32 },
    /// Answers (A 192.0.2.7, AA) with the question name lowercased, as a
    /// server that does not keep case would.
    LowercaseEcho,
    /// An authoritative server for any name asked: A 192.0.2.7, AA.
    Authoritative,
    /// Authoritative, and adds records for other zones to every section:
    /// www.deep.test and www.cross.example A 203.0.113.66 in the answer,
    /// deep.test NS ns.evil. in authority, ns.evil. A in additional.
    Poison,
    /// Authoritative for one name only, and broken (`fault`) for
    /// everything else, its empty non-terminals included: the behaviour
    /// RFC 9156 resolvers must survive.
    BrokenEnt { exists: String, fault: EntFault },
    /// Answers with DNS cookies, as a server doing RFC 7873 would: the
    /// client cookie echoed with the server cookie `SERVER_COOKIE`.
    /// `strict`: a query without that server cookie gets BADCOOKIE (and
    /// the cookie). `forge_first`: over UDP, an answer with another
    /// client cookie (A 203.0.113.66) goes out before the real one.
    Cookies { strict: bool, forge_first: bool },
}

/// The server cookie of `Behaviour::Cookies`.
pub const SERVER_COOKIE: [u8; 16] = [0x5a; 16];

/// How a broken server answers for names other than the one it knows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EntFault {
    NxDomain,
    /// An AAAA record for the name, whatever was asked.
    WrongType,
    ServFail,
    Refused,
    Silent,
}

/// One query the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    /// Lowercased.
    pub name: String,
    /// As it arrived.
    pub asked: String,
    pub qtype: RecordType,
    pub at: Instant,
    pub tcp: bool,
    /// Whether the query carried OPT.
    pub edns: bool,
    /// The COOKIE option's data, if the query carried one.
    pub cookie: Option<Vec<u8>>,
}

#[derive(Clone)]
pub struct FakeUpstream {
    pub addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    log: Arc<Mutex<Vec<Received>>>,
}

impl FakeUpstream {
    /// Starts a fake on 127.0.0.1 (UDP and TCP on one ephemeral port).
    pub async fn start(behaviour: Behaviour) -> FakeUpstream {
        loop {
            let any = "127.0.0.1:0".parse().unwrap();
            if let Some(fake) = Self::start_on(any, behaviour.clone()).await {
                return fake;
            }
        }
    }

    /// Starts a fake on `addr` (UDP and TCP); `None` if the port is taken
    /// for TCP.
    pub async fn start_on(addr: SocketAddr, behaviour: Behaviour) -> Option<FakeUpstream> {
        let udp = UdpSocket::bind(addr).await.unwrap();
        let tcp = TcpListener::bind(udp.local_addr().unwrap()).await.ok()?;
        let fake = FakeUpstream {
            addr: udp.local_addr().unwrap(),
            behaviour: Arc::new(Mutex::new(behaviour)),
            log: Arc::new(Mutex::new(Vec::new())),
        };
        let udp = Arc::new(udp);
        let serving = fake.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            while let Ok((len, peer)) = udp.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let (fake, udp) = (serving.clone(), udp.clone());
                tokio::spawn(async move {
                    if let Some(forged) = fake.forgery(&query) {
                        let _ = udp.send_to(&forged, peer).await;
                    }
                    if let Some(reply) = fake.reply(&query, false).await {
                        let _ = udp.send_to(&reply, peer).await;
                    }
                });
            }
        });
        let serving = fake.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let fake = serving.clone();
                tokio::spawn(async move {
                    let mut prefix = [0u8; 2];
                    while stream.read_exact(&mut prefix).await.is_ok() {
                        let mut buf = vec![0u8; u16::from_be_bytes(prefix) as usize];
                        if stream.read_exact(&mut buf).await.is_err() {
                            return;
                        }
                        let Ok(query) = Message::from_vec(&buf) else {
                            return;
                        };
                        if let Some(reply) = fake.reply(&query, true).await {
                            let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                            framed.extend_from_slice(&reply);
                            let _ = stream.write_all(&framed).await;
                        }
                    }
                });
            }
        });
        Some(fake)
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// Every query received so far.
    pub fn log(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Queries received for `name` (case-insensitive, with or without the
    /// final dot).
    pub fn count(&self, name: &str) -> usize {
        let want = name.trim_end_matches('.').to_ascii_lowercase();
        self.log()
            .iter()
            .filter(|r| r.name.trim_end_matches('.') == want)
            .count()
    }

    async fn reply(&self, query: &Message, tcp: bool) -> Option<Vec<u8>> {
        let question = query.queries.first()?.clone();
        self.log.lock().unwrap().push(Received {
            name: question.name().to_string().to_ascii_lowercase(),
            asked: question.name().to_string(),
            qtype: question.query_type(),
            at: Instant::now(),
            tcp,
            edns: query.edns.is_some(),
            cookie: cookie_of(query),
        });
        let behaviour = self.behaviour.lock().unwrap().clone();
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.message_type = MessageType::Response;
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.add_query(question.clone());
        match behaviour {
            Behaviour::Drop => return None,
            Behaviour::Garbage => {
                let mut bytes = query.metadata.id.to_be_bytes().to_vec();
                bytes.extend_from_slice(b"\x80this is not DNS");
                return Some(bytes);
            }
            Behaviour::ServFail => response.metadata.response_code = ResponseCode::ServFail,
            Behaviour::NoEdns { .. } if query.edns.is_some() => {
                response.metadata.response_code = ResponseCode::FormErr;
            }
            Behaviour::NoEdns { ttl } => answer(
                &mut response,
                &question.name().to_string(),
                question.query_type(),
                ttl,
            ),
            Behaviour::WrongId => {
                answer(
                    &mut response,
                    &question.name().to_string(),
                    question.query_type(),
                    300,
                );
                response.metadata.id = query.metadata.id.wrapping_add(1);
            }
            Behaviour::WrongQuestion => {
                answer(
                    &mut response,
                    &question.name().to_string(),
                    question.query_type(),
                    300,
                );
                response.queries[0].name = Name::from_ascii("other.example.").unwrap();
            }
            Behaviour::Truncate { ttl } => {
                if tcp {
                    answer(
                        &mut response,
                        &question.name().to_string(),
                        question.query_type(),
                        ttl,
                    );
                } else {
                    response.metadata.truncation = true;
                }
            }
            Behaviour::Delay { ttl, delay } => {
                tokio::time::sleep(delay).await;
                answer(
                    &mut response,
                    &question.name().to_string(),
                    question.query_type(),
                    ttl,
                );
            }
            Behaviour::Answer { ttl } => {
                answer(
                    &mut response,
                    &question.name().to_string(),
                    question.query_type(),
                    ttl,
                );
            }
            Behaviour::LowercaseEcho => {
                authoritative(&mut response, question.name());
                response.queries[0].name = question.name().to_lowercase();
            }
            Behaviour::Authoritative => authoritative(&mut response, question.name()),
            Behaviour::Cookies { strict, .. } => {
                let Some(sent) = cookie_of(query) else {
                    answer(
                        &mut response,
                        &question.name().to_string(),
                        question.query_type(),
                        300,
                    );
                    return response.to_vec().ok();
                };
                if strict && sent.get(8..) != Some(&SERVER_COOKIE[..]) {
                    response.metadata.response_code = ResponseCode::BADCOOKIE;
                } else {
                    answer(
                        &mut response,
                        &question.name().to_string(),
                        question.query_type(),
                        300,
                    );
                }
                let mut cookie = sent[..8.min(sent.len())].to_vec();
                cookie.extend_from_slice(&SERVER_COOKIE);
                with_cookie(&mut response, cookie);
            }
            Behaviour::Poison => {
                authoritative(&mut response, question.name());
                let evil = |name: &str| {
                    let name = Name::from_ascii(name).unwrap();
                    Record::from_rdata(name, 3600, RData::A(A::new(203, 0, 113, 66)))
                };
                response.answers.push(evil("www.deep.test."));
                response.answers.push(evil("www.cross.example."));
                response.authorities.push(Record::from_rdata(
                    Name::from_ascii("deep.test.").unwrap(),
                    3600,
                    RData::NS(NS(Name::from_ascii("ns.evil.").unwrap())),
                ));
                response.additionals.push(evil("ns.evil."));
            }
            Behaviour::BrokenEnt { exists, fault } => {
                if question.name().to_string().eq_ignore_ascii_case(&exists) {
                    authoritative(&mut response, question.name());
                } else {
                    response.metadata.authoritative = true;
                    match fault {
                        EntFault::NxDomain => {
                            response.metadata.response_code = ResponseCode::NXDomain
                        }
                        EntFault::WrongType => response.answers.push(Record::from_rdata(
                            question.name().clone(),
                            300,
                            RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7)),
                        )),
                        EntFault::ServFail => {
                            response.metadata.response_code = ResponseCode::ServFail
                        }
                        EntFault::Refused => {
                            response.metadata.response_code = ResponseCode::Refused
                        }
                        EntFault::Silent => return None,
                    }
                }
            }
        }
        response.to_vec().ok()
    }
}

impl FakeUpstream {
    /// What goes out over UDP before the answer, if anything: with
    /// `Cookies { forge_first }`, a forged answer with another client
    /// cookie.
    fn forgery(&self, query: &Message) -> Option<Vec<u8>> {
        let Behaviour::Cookies {
            forge_first: true, ..
        } = *self.behaviour.lock().unwrap()
        else {
            return None;
        };
        let question = query.queries.first()?.clone();
        let mut response = Message::response(query.metadata.id, query.metadata.op_code);
        response.metadata.recursion_desired = query.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.add_query(question.clone());
        response.answers.push(Record::from_rdata(
            question.name().clone(),
            300,
            RData::A(A::new(203, 0, 113, 66)),
        ));
        let mut cookie = vec![0xee; 8];
        cookie.extend_from_slice(&SERVER_COOKIE);
        with_cookie(&mut response, cookie);
        response.to_vec().ok()
    }
}

/// The COOKIE option data of a message.
fn cookie_of(message: &Message) -> Option<Vec<u8>> {
    match message.edns.as_ref()?.option(EdnsCode::Cookie)? {
        EdnsOption::Unknown(_, data) => Some(data.clone()),
        _ => None,
    }
}

fn with_cookie(response: &mut Message, cookie: Vec<u8>) {
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut().insert(EdnsOption::Unknown(10, cookie));
    response.edns = Some(edns);
}

/// An authoritative answer: A 192.0.2.7 for the name asked.
fn authoritative(response: &mut Message, name: &Name) {
    response.metadata.authoritative = true;
    response.metadata.recursion_available = false;
    let record = Record::from_rdata(name.clone(), 300, RData::A(A::new(192, 0, 2, 7)));
    response.answers.push(record);
}

/// The fake's data, made up from the name asked:
/// - `nx*`: NXDOMAIN, SOA of `example.` (TTL 3600, MINIMUM 60);
/// - `nodata*`: NOERROR with that SOA;
/// - `alias*`: a CNAME to `target.example.` and its A record;
/// - anything else: A 192.0.2.1, plus an unrelated record in every section
///   that must never be cached.
fn answer(response: &mut Message, qname: &str, qtype: RecordType, ttl: u32) {
    let name = Name::from_ascii(qname).unwrap();
    let first = qname.split('.').next().unwrap_or("").to_ascii_lowercase();
    let soa = Record::from_rdata(
        Name::from_ascii("example.").unwrap(),
        3600,
        RData::SOA(SOA::new(
            Name::from_ascii("ns.example.").unwrap(),
            Name::from_ascii("hostmaster.example.").unwrap(),
            1,
            7200,
            3600,
            1209600,
            60,
        )),
    );
    if first.starts_with("nx") {
        response.metadata.response_code = ResponseCode::NXDomain;
        response.authorities.push(soa);
        return;
    }
    if first.starts_with("nodata") || qtype != RecordType::A {
        response.authorities.push(soa);
        return;
    }
    let poison = Record::from_rdata(
        Name::from_ascii("poison.example.").unwrap(),
        ttl,
        RData::A(A::new(203, 0, 113, 66)),
    );
    if first.starts_with("alias") {
        let target = Name::from_ascii("target.example.").unwrap();
        response.answers.push(Record::from_rdata(
            name,
            ttl,
            RData::CNAME(CNAME(target.clone())),
        ));
        response.answers.push(Record::from_rdata(
            target,
            ttl,
            RData::A(A::new(192, 0, 2, 2)),
        ));
    } else {
        response.answers.push(Record::from_rdata(
            name,
            ttl,
            RData::A(A::new(192, 0, 2, 1)),
        ));
    }
    response.answers.push(poison.clone());
    response.authorities.push(poison.clone());
    response.additionals.push(poison);
}
