//! One question to one upstream server, and the checks its answer must
//! pass.
//!
//! Each question goes out from a fresh socket (a random source port chosen
//! by the kernel) with a random ID. The socket is connected, so the kernel
//! drops datagrams from any other address; a reply is accepted only if its
//! ID and question match too. Anything else is counted and ignored while
//! the real answer is awaited. TC=1 moves the question to TCP.

use std::io;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::client_cookies::{ClientCookies, CookieCheck, ServerCookie};
use super::dot::DotUpstreams;
use super::infra::Infra;
use crate::counters::{Counters, UpstreamEvent};
use crate::wire::name::MAX_NAME_LEN;
use crate::wire::{MAX_MESSAGE_SIZE, class, edns, flags, options, rtype};

/// A question for an upstream server.
#[derive(Clone, Copy, Debug)]
pub struct Question<'a> {
    /// Lowercase wire form.
    pub name: &'a [u8],
    pub qtype: u16,
}

/// How queries to other servers are made.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// EDNS payload size we advertise.
    pub edns_size: u16,
    /// Randomise the case of the question name and require the answer to
    /// echo it exactly (draft-vixie-dnsext-dns0x20): more bits an off-path
    /// forger must guess.
    pub randomise_case: bool,
    /// Ask for DNSSEC records (the DO bit, RFC 3225), to validate them.
    pub dnssec_ok: bool,
    /// Ask with CD (RFC 4035 section 3.2.2): an upstream resolver hands
    /// over data it found bogus, so the reason is judged here.
    pub checking_disabled: bool,
    /// Send client cookies (RFC 7873) and check them in answers.
    pub cookies: bool,
}

/// The question name as sent, written into `buf`: the lowercase name, or
/// with each letter's case chosen at random.
fn sent_name<'b>(name: &[u8], randomise: bool, buf: &'b mut [u8; MAX_NAME_LEN]) -> &'b [u8] {
    let len = name.len().min(MAX_NAME_LEN);
    let sent = &mut buf[..len];
    sent.copy_from_slice(&name[..len]);
    if randomise {
        let mut bits = 0u64;
        for (i, b) in sent.iter_mut().enumerate() {
            if i % 64 == 0 {
                bits = rand::random();
            }
            if b.is_ascii_lowercase() && bits & (1 << (i % 64)) != 0 {
                *b = b.to_ascii_uppercase();
            }
        }
    }
    sent
}

/// How an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("no answer in time")]
    Timeout,
    #[error("network error: {0}")]
    Network(#[from] io::Error),
}

/// Asks `server` and returns its validated response, whatever its rcode.
/// Gives up at `deadline`. A server among `tls` is asked over TLS.
#[allow(clippy::too_many_arguments)]
pub async fn exchange(
    server: SocketAddr,
    tls: Option<&DotUpstreams>,
    question: Question<'_>,
    how: &Exchange,
    recursion_desired: bool,
    deadline: Instant,
    infra: &Infra,
    counters: &Counters,
) -> Result<Message, ExchangeError> {
    let tls = tls.filter(|t| t.serves(server));
    let mut edns = infra.speaks_edns(server).then_some(how.edns_size);
    let mut cookie_retried = false;
    // Over TLS no off-path forger can answer, so random case would buy
    // nothing but the servers that lose it.
    let mut randomise = how.randomise_case && tls.is_none();
    let started = Instant::now();
    let mut sent = [0u8; MAX_NAME_LEN];
    loop {
        let id: u16 = rand::random();
        let mut received;
        let sent = sent_name(question.name, randomise, &mut sent);
        // Cookies ride in OPT: none without EDNS.
        let cookie = (how.cookies && edns.is_some()).then(|| SentCookie {
            cookies: &infra.cookies,
            server: server.ip(),
            client: infra.cookies.client_cookie(server.ip()),
            server_cookie: infra.cookies.server_cookie(server.ip()),
        });
        let asked = Asked {
            question: Question {
                name: sent,
                qtype: question.qtype,
            },
            randomised: randomise,
            cookie,
        };
        let mut packet = build_query(id, asked, edns, recursion_desired, how);
        if tls.is_some() {
            // RFC 8467: so the length of an encrypted query does not tell
            // an observer which name it asks.
            options::pad(&mut packet, options::QUERY_BLOCK, MAX_MESSAGE_SIZE);
        }
        counters.upstream(UpstreamEvent::Sent);
        if let Some(tls) = tls {
            let (id, frame) = tls
                .exchange(server, &mut packet, deadline, counters)
                .await?;
            match accept(&frame, id, asked, counters) {
                Verdict::Ours(response) => received = Received::Message(response),
                // The ID was ours alone on the connection: a server
                // that answers it with another question is broken.
                Verdict::CaseLost | Verdict::Stray => {
                    return Err(io::Error::from(io::ErrorKind::InvalidData).into());
                }
            }
        } else {
            // Without EDNS a server may send 512 bytes (RFC 1035 section 4.2.1).
            let limit = edns.unwrap_or(512).max(512);
            received = over_udp(server, limit, &packet, id, asked, deadline, counters).await?;
        }
        // A server that gave us its cookie answers without one: an
        // off-path forger who left the option out, or a server that
        // stopped doing cookies. TCP tells which (RFC 7873 section 5.3).
        let cookie_missing = matches!(&received, Received::Message(m)
            if asked.cookie.is_some_and(|c| c.server_cookie.is_some()) && cookie_option(m).is_none());
        if tls.is_none()
            && (matches!(&received, Received::Oversized)
                || matches!(&received, Received::Message(m) if m.metadata.truncation)
                || cookie_missing)
        {
            counters.upstream(UpstreamEvent::TcpRetry);
            let id: u16 = rand::random();
            let packet = build_query(id, asked, edns, recursion_desired, how);
            received = over_tcp(server, &packet, id, asked, deadline, counters).await?;
            if matches!(&received, Received::Message(m) if cookie_option(m).is_none()) {
                infra.cookies.forget(server.ip());
            }
        }
        let response = match received {
            Received::Message(response) => response,
            // The server answered our question but lost the case of its
            // name: it does not preserve case (RFC 4343 asks it to). Ask
            // it once more in lowercase, so such servers still resolve;
            // the ID and a fresh port still guard that answer, and nothing
            // is remembered that a spoofer could use to turn 0x20 off.
            Received::CaseLost => {
                counters.upstream(UpstreamEvent::CaseFallback);
                randomise = false;
                continue;
            }
            // TCP has no size limit to exceed; never seen, but not a panic.
            Received::Oversized => return Err(ExchangeError::Timeout),
        };
        // A server that does not know EDNS may answer FORMERR or NOTIMP
        // to it; ask once more without (RFC 6891 section 6.2.2), and keep
        // asking it without for a while, so it costs one round trip, not
        // one per question.
        let rcode = response.metadata.response_code;
        // BADCOOKIE: the server wants its fresh cookie, which the answer
        // carried and we now hold; ask once more with it (RFC 7873
        // section 5.3).
        if rcode == ResponseCode::BADCOOKIE && asked.cookie.is_some() && !cookie_retried {
            counters.upstream(UpstreamEvent::CookieRetry);
            cookie_retried = true;
            continue;
        }
        if edns.is_some()
            && response.edns.is_none()
            && matches!(rcode, ResponseCode::FormErr | ResponseCode::NotImp)
        {
            counters.upstream(UpstreamEvent::EdnsFallback);
            infra.rejected_edns(server);
            edns = None;
            continue;
        }
        counters.upstream_rtt(started.elapsed());
        return Ok(if randomise {
            lowercase_names(response)
        } else {
            response
        });
    }
}

/// Checks a response's cookie against the one sent, remembering the
/// server cookie it gives; `true` when it is not ours.
fn cookies_forged(sent: SentCookie<'_>, message: &Message) -> bool {
    sent.cookies
        .check(sent.server, &sent.client, cookie_option(message))
        == CookieCheck::Forged
}

/// Lowercases every name in a response to a case-randomised query.
///
/// Servers compress names in RDATA against the question, so a CNAME
/// target can come back in the random case we sent; cached, that noise
/// would reach clients. DNS names compare without case (RFC 4343), and the
/// first owner a client sees is its own question anyway.
fn lowercase_names(mut message: Message) -> Message {
    let sections = [
        &mut message.answers,
        &mut message.authorities,
        &mut message.additionals,
    ];
    for record in sections.into_iter().flatten() {
        record.name = record.name.to_lowercase();
        match &mut record.data {
            RData::CNAME(name) => name.0 = name.0.to_lowercase(),
            RData::NS(name) => name.0 = name.0.to_lowercase(),
            RData::PTR(name) => name.0 = name.0.to_lowercase(),
            RData::MX(mx) => mx.exchange = mx.exchange.to_lowercase(),
            RData::SRV(srv) => srv.target = srv.target.to_lowercase(),
            RData::SOA(soa) => {
                soa.mname = soa.mname.to_lowercase();
                soa.rname = soa.rname.to_lowercase();
            }
            _ => {}
        }
    }
    message
}

/// Encodes a query: header, question, and OPT when `edns` is set (with
/// DO as `how` asks, and the cookie; without EDNS there is no DO, and
/// no DNSSEC).
fn build_query(id: u16, asked: Asked<'_>, edns: Option<u16>, rd: bool, how: &Exchange) -> Vec<u8> {
    let question = asked.question;
    let mut packet = Vec::with_capacity(12 + question.name.len() + 4 + 11 + 44);
    packet.extend_from_slice(&id.to_be_bytes());
    let mut flag_bits = if rd { flags::RD } else { 0 };
    if how.checking_disabled {
        flag_bits |= flags::CD;
    }
    packet.extend_from_slice(&flag_bits.to_be_bytes());
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, edns.is_some() as u8]);
    packet.extend_from_slice(question.name);
    packet.extend_from_slice(&question.qtype.to_be_bytes());
    packet.extend_from_slice(&class::IN.to_be_bytes());
    if let Some(size) = edns {
        packet.push(0);
        packet.extend_from_slice(&rtype::OPT.to_be_bytes());
        packet.extend_from_slice(&size.to_be_bytes());
        let do_bit: u16 = if how.dnssec_ok { 0x8000 } else { 0 };
        packet.extend_from_slice(&[0, 0]);
        packet.extend_from_slice(&do_bit.to_be_bytes());
        match asked.cookie {
            Some(cookie) => {
                let server_cookie = cookie
                    .server_cookie
                    .as_ref()
                    .map_or(&[][..], |c| c.as_bytes());
                let len = 8 + server_cookie.len() as u16;
                packet.extend_from_slice(&(4 + len).to_be_bytes());
                packet.extend_from_slice(&edns::COOKIE.to_be_bytes());
                packet.extend_from_slice(&len.to_be_bytes());
                packet.extend_from_slice(&cookie.client);
                packet.extend_from_slice(server_cookie);
            }
            None => packet.extend_from_slice(&[0, 0]),
        }
    }
    packet
}

/// The data of a response's COOKIE option.
fn cookie_option(message: &Message) -> Option<&[u8]> {
    match message.edns.as_ref()?.option(EdnsCode::Cookie)? {
        EdnsOption::Unknown(_, data) => Some(data),
        _ => None,
    }
}

/// The cookies a query carried.
#[derive(Clone, Copy)]
struct SentCookie<'a> {
    cookies: &'a ClientCookies,
    server: IpAddr,
    client: [u8; 8],
    server_cookie: Option<ServerCookie>,
}

/// The question as sent, whether its case was randomised (and so must be
/// echoed exactly), and the cookies sent with it.
#[derive(Clone, Copy)]
struct Asked<'a> {
    question: Question<'a>,
    randomised: bool,
    cookie: Option<SentCookie<'a>>,
}

/// What came back.
enum Received {
    Message(Message),
    /// More than the advertised size: to be asked again over TCP.
    Oversized,
    /// An answer to our question whose name lost its random case.
    CaseLost,
}

/// What a datagram or frame is to a waiting exchange.
enum Verdict {
    Ours(Message),
    CaseLost,
    /// Not an answer to this query: ignored.
    Stray,
}

async fn over_udp(
    server: SocketAddr,
    limit: u16,
    packet: &[u8],
    id: u16,
    asked: Asked<'_>,
    deadline: Instant,
    counters: &Counters,
) -> Result<Received, ExchangeError> {
    let socket = connected_socket(server).await.inspect_err(|e| {
        counters.descriptor_shortage(e, "opening a socket to ask a server");
    })?;
    socket.send(packet).await?;
    // A server may not send more than we advertised; one byte more shows
    // that it did, and the answer is then fetched over TCP.
    let mut buf = Vec::with_capacity(usize::from(limit) + 1);
    loop {
        buf.clear();
        let len = match timeout_at(deadline, socket.recv_buf(&mut buf)).await {
            Ok(Ok(len)) => len,
            // An ICMP error (port unreachable) for this socket: the server
            // is not there.
            Ok(Err(e)) => return Err(ExchangeError::Network(e)),
            Err(_) => return Err(ExchangeError::Timeout),
        };
        if len > usize::from(limit) {
            return Ok(Received::Oversized);
        }
        match accept(&buf[..len], id, asked, counters) {
            Verdict::Ours(response) => return Ok(Received::Message(response)),
            Verdict::CaseLost => return Ok(Received::CaseLost),
            Verdict::Stray => {}
        }
    }
}

/// A fresh UDP socket on a kernel-chosen port, connected to `server`, so
/// the kernel drops datagrams from anyone else. Connecting binds it to a
/// random ephemeral port, as bind(0) would, one system call fewer.
pub(crate) async fn connected_socket(server: SocketAddr) -> io::Result<UdpSocket> {
    #[cfg(target_os = "linux")]
    let kind = socket2::Type::DGRAM.nonblocking();
    #[cfg(not(target_os = "linux"))]
    let kind = socket2::Type::DGRAM;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(server),
        kind,
        Some(socket2::Protocol::UDP),
    )?;
    if cfg!(not(target_os = "linux")) {
        socket.set_nonblocking(true)?;
    }
    socket.connect(&server.into())?;
    UdpSocket::from_std(socket.into())
}

async fn over_tcp(
    server: SocketAddr,
    packet: &[u8],
    id: u16,
    asked: Asked<'_>,
    deadline: Instant,
    counters: &Counters,
) -> Result<Received, ExchangeError> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let mut framed = Vec::with_capacity(packet.len() + 2);
        framed.extend_from_slice(&(packet.len() as u16).to_be_bytes());
        framed.extend_from_slice(packet);
        stream.write_all(&framed).await?;
        loop {
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).await?;
            let mut buf = vec![0u8; u16::from_be_bytes(prefix) as usize];
            stream.read_exact(&mut buf).await?;
            match accept(&buf, id, asked, counters) {
                Verdict::Ours(response) => return Ok::<_, io::Error>(Received::Message(response)),
                Verdict::CaseLost => return Ok(Received::CaseLost),
                Verdict::Stray => {}
            }
        }
    };
    match timeout_at(deadline, exchange).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ExchangeError::Timeout),
    }
}

/// The question name of a packet, `len` bytes from the header on.
fn echo_of(packet: &[u8], len: usize) -> Option<&[u8]> {
    packet.get(12..12 + len)
}

/// Whether a packet answers our query: right ID, a response, the same
/// question, its name echoed exactly when its case was randomised.
/// Anything else is counted and dropped.
fn accept(packet: &[u8], id: u16, asked: Asked<'_>, counters: &Counters) -> Verdict {
    if packet.len() < 2 || u16::from_be_bytes([packet[0], packet[1]]) != id {
        counters.upstream(UpstreamEvent::Mismatched);
        return Verdict::Stray;
    }
    // The question as the server echoed it, checked on the packet itself
    // before anything is decoded: one question, the same name (the first
    // name of a message is never compressed), type and class.
    let question = asked.question;
    let (Some(echo), Some(tail)) = (
        echo_of(packet, question.name.len()),
        packet.get(12 + question.name.len()..16 + question.name.len()),
    ) else {
        counters.upstream(UpstreamEvent::Malformed);
        return Verdict::Stray;
    };
    let same_question = packet[2] & 0x80 != 0
        && packet[4..6] == [0, 1]
        && echo.eq_ignore_ascii_case(question.name)
        && tail[..2] == question.qtype.to_be_bytes()
        && tail[2..] == class::IN.to_be_bytes();
    if !same_question {
        counters.upstream(UpstreamEvent::Mismatched);
        return Verdict::Stray;
    }
    let Ok(message) = Message::from_vec(packet) else {
        counters.upstream(UpstreamEvent::Malformed);
        return Verdict::Stray;
    };
    // An answer with another client cookie was not sent by the server
    // we asked.
    if let Some(cookie) = asked.cookie
        && cookies_forged(cookie, &message)
    {
        counters.upstream(UpstreamEvent::Mismatched);
        return Verdict::Stray;
    }
    // Byte for byte: with randomised case the echo must keep it.
    if asked.randomised && echo != question.name {
        return Verdict::CaseLost;
    }
    Verdict::Ours(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_carries_the_cookies_and_pads_to_the_block() {
        let cookies = ClientCookies::new();
        let server: IpAddr = "192.0.2.1".parse().unwrap();
        let asked = Asked {
            question: Question {
                name: b"\x03www\x07example\x00",
                qtype: rtype::A,
            },
            randomised: false,
            cookie: Some(SentCookie {
                cookies: &cookies,
                server,
                client: cookies.client_cookie(server),
                server_cookie: None,
            }),
        };
        let how = Exchange {
            edns_size: 1232,
            randomise_case: false,
            dnssec_ok: true,
            checking_disabled: false,
            cookies: true,
        };
        let mut packet = build_query(7, asked, Some(1232), true, &how);
        assert!(options::pad(
            &mut packet,
            options::QUERY_BLOCK,
            MAX_MESSAGE_SIZE
        ));
        assert_eq!(packet.len(), options::QUERY_BLOCK);
        let message = Message::from_vec(&packet).unwrap();
        let edns = message.edns.unwrap();
        assert!(edns.flags().dnssec_ok);
        assert_eq!(
            cookie_option(&Message::from_vec(&packet).unwrap()),
            Some(&cookies.client_cookie(server)[..])
        );
        assert!(edns.option(EdnsCode::Padding).is_some());
    }
}
