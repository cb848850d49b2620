//! Forward mode: questions go to the configured upstream resolvers, the
//! fastest first, the next on timeout or SERVFAIL, within one deadline.
//! Plain and DNS-over-TLS upstreams are ranked together by their RTT
//! (for TLS, measured on the kept connection).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::time::Instant;

use super::dot::DotUpstreams;
use super::exchange::{Exchange, ExchangeError, Question, exchange};
use super::infra::Infra;
use crate::counters::{Counters, UpstreamEvent};

/// Pause after a round in which every server failed, doubled each round.
const ROUND_PAUSE: Duration = Duration::from_millis(25);

/// Why no upstream gave a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream answered before the deadline")]
    Deadline,
    /// Every attempt failed at the network level, none by timing out.
    #[error("every upstream failed at the network level (unreachable, refused, TLS)")]
    Network,
}

pub struct Forwarder {
    upstreams: Box<[SocketAddr]>,
    /// Those of them reached over TLS.
    tls: Option<DotUpstreams>,
    infra: Arc<Infra>,
    exchange: Exchange,
    counters: Arc<Counters>,
}

impl Forwarder {
    pub fn new(
        upstreams: &[SocketAddr],
        tls: Option<DotUpstreams>,
        infra: Arc<Infra>,
        exchange: Exchange,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            upstreams: upstreams.into(),
            tls,
            infra,
            exchange,
            counters,
        }
    }

    /// Each upstream's RTT and failure state.
    pub fn health(&self) -> Vec<super::infra::ServerHealth> {
        self.infra.health_of(&self.upstreams)
    }

    /// Asks upstreams until one gives NOERROR or NXDOMAIN, or `deadline`
    /// passes. Each round tries every server once, in order of preference;
    /// later rounds wait longer for each.
    pub async fn ask(
        &self,
        question: Question<'_>,
        deadline: Instant,
    ) -> Result<Message, ForwardError> {
        // Whether every attempt so far failed at the network level.
        let mut network_only = None;
        let failed = |network_only: Option<bool>| match network_only {
            Some(true) => ForwardError::Network,
            _ => ForwardError::Deadline,
        };
        for round in 0u32.. {
            let mut tried = Vec::with_capacity(self.upstreams.len());
            while let Some(pick) = self.infra.pick(&self.upstreams, &tried, b"") {
                tried.push(pick.addr);
                let now = Instant::now();
                if now >= deadline {
                    return Err(failed(network_only));
                }
                let attempt_deadline = deadline.min(now + pick.timeout * (1 << round.min(4)));
                let started = std::time::Instant::now();
                match exchange(
                    pick.addr,
                    self.tls.as_ref(),
                    question,
                    &self.exchange,
                    true,
                    attempt_deadline,
                    &self.infra,
                    &self.counters,
                )
                .await
                {
                    Ok(message)
                        if matches!(
                            message.metadata.response_code,
                            ResponseCode::NoError | ResponseCode::NXDomain
                        ) =>
                    {
                        self.infra.success(pick.addr, started.elapsed());
                        return Ok(message);
                    }
                    Ok(_) => {
                        // SERVFAIL, REFUSED and the like: alive, but no use
                        // for this question. Another server may do better.
                        self.counters.upstream(UpstreamEvent::Failed);
                        self.infra.failure(pick.addr);
                        network_only = Some(false);
                    }
                    Err(ExchangeError::Timeout) => {
                        self.counters.upstream(UpstreamEvent::Timeout);
                        self.infra.failure(pick.addr);
                        network_only = Some(false);
                    }
                    Err(ExchangeError::Network(_)) => {
                        self.counters.upstream(UpstreamEvent::Failed);
                        self.infra.failure(pick.addr);
                        network_only.get_or_insert(true);
                    }
                }
            }
            // Every server failed this round. When they failed at once
            // (port unreachable, say), pause before asking them all again.
            let pause = ROUND_PAUSE * (1 << round.min(4));
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        Err(failed(network_only))
    }
}
