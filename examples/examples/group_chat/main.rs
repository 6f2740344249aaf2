//! A small group chat on `im-core` alone: a server and a scripted client that runs to
//! completion.
//!
//! The server is an `im_core::Engine` on a `TcpListener`, with the in-memory message store
//! and membership, and a toy authenticator (the token `token-<name>` is user `<name>`).
//! One group, `hike`, has the members alice, bob and carol.
//!
//! The client script, over real WebSockets and the JSON protocol of `docs/protocol.md`:
//! alice and bob chat while carol is offline; bob retries a send with the same
//! `client_msg_id` (it keeps its seq, nobody sees it twice); carol comes online, asks for
//! `latest` (3 unread), syncs everything after seq 0, replies and marks the group read.
//! Everyone's transcript is then checked to be the same messages in the same seq order.
//!
//! Run it with `cargo run -p examples --example group_chat` (server and clients in one
//! process, exits 0 on success), or run the two halves apart:
//!
//! ```text
//! cargo run -p examples --example group_chat -- --serve 127.0.0.1:9000
//! cargo run -p examples --example group_chat -- --connect 127.0.0.1:9000
//! ```

mod client;
mod server;

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, addr] if flag == "--serve" => {
            let (addr, running) = server::start(addr).await?;
            println!("group chat server on ws://{addr}/ (tokens: token-alice, token-bob, token-carol; group: hike)");
            running.await.context("server task")?
        }
        [flag, addr] if flag == "--connect" => client::script(addr).await,
        [] => {
            let (addr, _running) = server::start("127.0.0.1:0").await?;
            client::script(&addr.to_string()).await
        }
        _ => anyhow::bail!("usage: group_chat [--serve ADDR | --connect ADDR]"),
    }
}
