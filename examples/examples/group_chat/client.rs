//! The client half: a scripted conversation over the JSON frame protocol.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _};
use futures::{SinkExt, StreamExt};
use im_core::protocol::{ClientFrame, MessageBody, ServerFrame};
use im_core::{Seq, StoredMessage};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const GROUP: &str = "hike";
const WAIT: Duration = Duration::from_secs(5);

/// One member's connection and what it has seen of the group, by seq.
struct Member {
    name: &'static str,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    timeline: BTreeMap<Seq, StoredMessage>,
}

impl Member {
    async fn connect(addr: &str, name: &'static str) -> anyhow::Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .with_context(|| format!("{name} connects"))?;
        let mut member = Self {
            name,
            ws,
            timeline: BTreeMap::new(),
        };
        member
            .send(ClientFrame::Auth {
                token: format!("token-{name}"),
            })
            .await?;
        match member.next().await? {
            ServerFrame::AuthOk { user_id } if user_id.as_str() == name => Ok(member),
            other => bail!("{name}: expected auth_ok, got {other:?}"),
        }
    }

    async fn send(&mut self, frame: ClientFrame) -> anyhow::Result<()> {
        Ok(self.ws.send(Message::Text(frame.to_json().into())).await?)
    }

    /// The next protocol frame (WebSocket pings are answered by tungstenite).
    async fn next(&mut self) -> anyhow::Result<ServerFrame> {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .with_context(|| format!("{}: no frame within {WAIT:?}", self.name))?
                .with_context(|| format!("{}: connection closed", self.name))??;
            if let Message::Text(text) = message {
                return Ok(ServerFrame::from_json(text.as_str())?);
            }
        }
    }

    /// Reads frames until `want` says stop; pushed messages go into the timeline.
    async fn until<T>(
        &mut self,
        mut want: impl FnMut(&ServerFrame) -> Option<T>,
    ) -> anyhow::Result<T> {
        loop {
            let frame = self.next().await?;
            if let Some(found) = want(&frame) {
                return Ok(found);
            }
            match frame {
                ServerFrame::Message(m) => self.remember(m)?,
                ServerFrame::Error { code, message, .. } => {
                    bail!("{}: error {code}: {message}", self.name)
                }
                _ => {}
            }
        }
    }

    fn remember(&mut self, m: StoredMessage) -> anyhow::Result<()> {
        if let Some(seen) = self.timeline.insert(m.seq, m.clone()) {
            ensure!(seen == m, "{}: seq {} changed", self.name, m.seq);
        }
        Ok(())
    }

    /// Sends `text` with `client_msg_id` and waits for its seq.
    async fn say(&mut self, client_msg_id: &str, text: &str) -> anyhow::Result<Seq> {
        self.send(ClientFrame::Send {
            group_id: GROUP.into(),
            client_msg_id: client_msg_id.into(),
            body: MessageBody::text(text),
        })
        .await?;
        let id = client_msg_id.to_owned();
        self.until(|f| match f {
            ServerFrame::SendOk {
                client_msg_id, seq, ..
            } if client_msg_id.as_str() == id => Some(*seq),
            _ => None,
        })
        .await
    }

    /// Waits until the timeline holds every seq up to `seq`.
    async fn caught_up_to(&mut self, seq: Seq) -> anyhow::Result<()> {
        while self.timeline.len() < seq as usize {
            let frame = self.next().await?;
            match frame {
                ServerFrame::Message(m) => self.remember(m)?,
                other => bail!("{}: unexpected {other:?}", self.name),
            }
        }
        Ok(())
    }
}

fn text(m: &StoredMessage) -> String {
    m.body.to_value().as_str().unwrap_or_default().to_owned()
}

/// The conversation; fails on anything unexpected.
pub(crate) async fn script(addr: &str) -> anyhow::Result<()> {
    let mut alice = Member::connect(addr, "alice").await?;
    let mut bob = Member::connect(addr, "bob").await?;

    // Carol is offline while alice and bob chat.
    alice
        .say("a-1", "Saturday's hike: who brings snacks?")
        .await?;
    bob.say("b-1", "I'll bring trail mix.").await?;
    // Bob's phone lost the send_ok and retries: same client_msg_id, same seq, no copy.
    let retry = bob.say("b-1", "I'll bring trail mix.").await?;
    ensure!(retry == 2, "a retried send kept seq 2, got {retry}");
    alice.say("a-2", "Great, I'll bring water.").await?;
    alice.caught_up_to(3).await?;
    bob.caught_up_to(3).await?;

    // Carol comes online: what did she miss?
    let mut carol = Member::connect(addr, "carol").await?;
    carol.send(ClientFrame::Latest { group_ids: None }).await?;
    let unread = carol
        .until(|f| match f {
            ServerFrame::LatestResult { groups } => Some(groups.clone()),
            _ => None,
        })
        .await?;
    ensure!(
        unread.len() == 1 && unread[0].latest_seq == 3 && unread[0].unread == 3,
        "carol: expected 3 unread in hike, got {unread:?}"
    );
    println!("carol is back: {} unread in {GROUP}", unread[0].unread);
    carol
        .send(ClientFrame::Sync {
            group_id: GROUP.into(),
            after_seq: 0,
            limit: None,
        })
        .await?;
    let page = carol
        .until(|f| match f {
            ServerFrame::SyncResult {
                messages, has_more, ..
            } => Some((messages.clone(), *has_more)),
            _ => None,
        })
        .await?;
    ensure!(!page.1, "one page holds three messages");
    for m in page.0 {
        carol.remember(m)?;
    }
    carol.say("c-1", "Count me in, I have a map.").await?;
    carol
        .send(ClientFrame::Read {
            group_id: GROUP.into(),
            seq: 4,
        })
        .await?;
    for member in [&mut alice, &mut bob, &mut carol] {
        member.caught_up_to(4).await?;
    }

    // Everyone saw the same four messages in the same order.
    let reference: Vec<_> = alice.timeline.values().cloned().collect();
    for member in [&bob, &carol] {
        let theirs: Vec<_> = member.timeline.values().cloned().collect();
        ensure!(
            theirs == reference,
            "{} saw a different history",
            member.name
        );
    }
    println!("transcript of #{GROUP}, identical for alice, bob and carol:");
    for m in &reference {
        println!("  {:>2}  {:<6} {}", m.seq, m.sender_id.as_str(), text(m));
    }
    Ok(())
}
