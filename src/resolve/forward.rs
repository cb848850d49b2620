//! Forward mode: questions go to the configured upstream resolvers, the
//! fastest first, the next on timeout or SERVFAIL, within one deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::time::Instant;

use super::exchange::{ExchangeError, Question, exchange};
use super::upstream::Upstreams;
use crate::counters::{Counters, UpstreamEvent};

/// Pause after a round in which every server failed, doubled each round.
const ROUND_PAUSE: Duration = Duration::from_millis(25);

/// Why no upstream gave a usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no upstream answered before the deadline")]
    Deadline,
}

pub struct Forwarder {
    upstreams: Upstreams,
    edns_size: u16,
    counters: Arc<Counters>,
}

impl Forwarder {
    pub fn new(upstreams: &[SocketAddr], edns_size: u16, counters: Arc<Counters>) -> Self {
        Self {
            upstreams: Upstreams::new(upstreams),
            edns_size,
            counters,
        }
    }

    /// Asks upstreams until one gives NOERROR or NXDOMAIN, or `deadline`
    /// passes. Each round tries every server once, in order of preference;
    /// later rounds wait longer for each.
    pub async fn ask(
        &self,
        question: Question<'_>,
        deadline: Instant,
    ) -> Result<Message, ForwardError> {
        for round in 0u32.. {
            let mut tried = 0u64;
            while let Some(pick) = self.upstreams.pick(tried) {
                tried |= 1 << pick.index;
                let now = Instant::now();
                if now >= deadline {
                    return Err(ForwardError::Deadline);
                }
                let attempt_deadline = deadline.min(now + pick.timeout * (1 << round.min(4)));
                let started = std::time::Instant::now();
                match exchange(
                    pick.addr,
                    question,
                    self.edns_size,
                    true,
                    attempt_deadline,
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
                        self.upstreams.success(pick.index, started.elapsed());
                        return Ok(message);
                    }
                    Ok(_) => {
                        // SERVFAIL, REFUSED and the like: alive, but no use
                        // for this question. Another server may do better.
                        self.counters.upstream(UpstreamEvent::Failed);
                        self.upstreams.failure(pick.index);
                    }
                    Err(ExchangeError::Timeout) => {
                        self.counters.upstream(UpstreamEvent::Timeout);
                        self.upstreams.failure(pick.index);
                    }
                    Err(ExchangeError::Network(_)) => {
                        self.counters.upstream(UpstreamEvent::Failed);
                        self.upstreams.failure(pick.index);
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
        Err(ForwardError::Deadline)
    }
}
