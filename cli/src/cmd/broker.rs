//! `micro broker`: publish a message to a topic, or subscribe to one and print its messages,
//! against Micro's `broker.Broker` (topics live in the namespace of the logged-in account).
//!
//! `subscribe` prints each message's body as text on its own line (or, with `-o json`, one
//! compact JSON object per line in Micro's encoding: `{"header":{…},"body":"<base64>"}`) until
//! interrupted. When the node it listens to goes away it subscribes again through the next
//! address of the environment; messages published in between are not seen (at-most-once).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use micro_proto::broker::broker_client::BrokerClient;
use micro_proto::broker::{Message, PublishRequest, SubscribeRequest};
use tonic::Code;

use super::root::{unknown_subcommand, Globals};
use crate::client::{Client, RpcError};

/// How long `subscribe` waits before subscribing again after its stream ended.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(500);

/// `micro broker COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BrokerCommand,
}

/// Subcommands of `micro broker`.
#[derive(Debug, Clone, Subcommand)]
pub enum BrokerCommand {
    /// Publish a message: micro broker publish TOPIC MESSAGE...
    Publish(PublishArgs),
    /// Print the messages of a topic as they arrive, until interrupted
    Subscribe(SubscribeArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro broker publish`.
#[derive(Debug, Clone, Default, Args)]
pub struct PublishArgs {
    /// The topic
    pub topic: Option<String>,
    /// The message body; several words are joined with spaces (put `--` before a message
    /// starting with `-`)
    #[arg(allow_negative_numbers = true)]
    pub message: Vec<String>,
    /// A message header as NAME=VALUE (repeatable)
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
}

/// `micro broker subscribe`.
#[derive(Debug, Clone, Default, Args)]
pub struct SubscribeArgs {
    /// The topic
    pub topic: Option<String>,
    /// Join this queue group: each message goes to one subscriber of the group
    #[arg(short, long)]
    pub queue: Option<String>,
    /// Output format
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

/// How `subscribe` prints messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The body as text, one message per line.
    #[default]
    Text,
    /// One JSON object per line, in Micro's encoding (body in base64).
    Json,
}

/// Runs one `micro broker …` command.
pub async fn run(args: BrokerArgs, globals: &Globals) -> Result<()> {
    match args.command {
        BrokerCommand::Publish(a) => publish(a, globals).await,
        BrokerCommand::Subscribe(a) => subscribe(a, globals).await,
        BrokerCommand::Unknown(words) => bail!(unknown_subcommand("broker", &words)),
    }
}

/// Builds the Publish request, refusing missing arguments and malformed headers.
fn publish_request(args: &PublishArgs) -> Result<PublishRequest> {
    let (Some(topic), false) = (args.topic.clone(), args.message.is_empty()) else {
        bail!("Required usage: micro broker publish TOPIC MESSAGE");
    };
    let mut header = BTreeMap::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            bail!("invalid header {h:?}: expected NAME=VALUE");
        };
        header.insert(name.to_owned(), value.to_owned());
    }
    Ok(PublishRequest {
        topic,
        message: Some(Message {
            header,
            body: args.message.join(" ").into_bytes(),
        }),
    })
}

async fn publish(args: PublishArgs, globals: &Globals) -> Result<()> {
    let request = publish_request(&args)?;
    let client = globals.client().await?;
    // Not retried elsewhere once a node took it: that node may have delivered it already.
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { BrokerClient::new(ch).publish(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

/// Builds the Subscribe request, refusing a missing topic.
fn subscribe_request(args: &SubscribeArgs) -> Result<SubscribeRequest> {
    let Some(topic) = args.topic.clone() else {
        bail!("Required usage: micro broker subscribe TOPIC");
    };
    Ok(SubscribeRequest {
        topic,
        queue: args.queue.clone().unwrap_or_default(),
    })
}

/// One message as `subscribe` prints it, newline included.
pub fn render(message: &Message, output: Output) -> Result<Vec<u8>> {
    let mut line = match output {
        Output::Text => message.body.clone(),
        Output::Json => serde_json::to_vec(message).context("encoding the message as JSON")?,
    };
    line.push(b'\n');
    Ok(line)
}

async fn subscribe(args: SubscribeArgs, globals: &Globals) -> Result<()> {
    let request = subscribe_request(&args)?;
    let client = globals.client().await?;
    let mut stdout = std::io::stdout();
    loop {
        let (_channel, mut stream) = open(&client, &request).await?;
        let why = loop {
            match stream.message().await {
                Ok(Some(message)) => {
                    let line = render(&message, args.output)?;
                    if stdout
                        .write_all(&line)
                        .and_then(|()| stdout.flush())
                        .is_err()
                    {
                        // Nobody reads any more (`| head -1`): done.
                        return Ok(());
                    }
                }
                Ok(None) => break "the server ended the subscription".to_owned(),
                Err(status) if resumable(status.code()) => break status.message().to_owned(),
                Err(status) => return Err(RpcError::from_status(&status).into()),
            }
        };
        eprintln!("Subscription interrupted ({why}); subscribing again");
        tokio::time::sleep(RESUBSCRIBE_DELAY).await;
    }
}

/// Whether a stream that failed this way is worth opening again (the node went away).
fn resumable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
    )
}

/// Subscribes through the first address that answers. The channel is returned with the stream
/// so the connection lives as long as the subscription.
async fn open(
    client: &Client,
    request: &SubscribeRequest,
) -> Result<(tonic::transport::Channel, tonic::Streaming<Message>)> {
    let opened = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move {
                let stream = BrokerClient::new(ch.clone())
                    .subscribe(req)
                    .await?
                    .into_inner();
                Ok((ch, stream))
            }
        })
        .await?;
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_needs_a_topic_and_a_message_and_well_formed_headers() {
        let args = |topic: Option<&str>, message: &[&str], headers: &[&str]| PublishArgs {
            topic: topic.map(str::to_owned),
            message: message.iter().map(|s| s.to_string()).collect(),
            headers: headers.iter().map(|s| s.to_string()).collect(),
        };
        let missing = "Required usage: micro broker publish TOPIC MESSAGE";
        for bad in [args(None, &[], &[]), args(Some("t"), &[], &[])] {
            assert_eq!(publish_request(&bad).unwrap_err().to_string(), missing);
        }
        for bad in ["novalue", "=v"] {
            let err = publish_request(&args(Some("t"), &["m"], &[bad])).unwrap_err();
            assert!(err.to_string().contains("expected NAME=VALUE"), "{err}");
        }
        let req = publish_request(&args(Some("t"), &["hello", "world"], &["a=b=c", "e="])).unwrap();
        assert_eq!(req.topic, "t");
        let m = req.message.unwrap();
        assert_eq!(m.body, b"hello world");
        assert_eq!(m.header["a"], "b=c");
        assert_eq!(m.header["e"], "");
    }

    #[test]
    fn messages_print_as_text_or_micro_json() {
        let m = Message {
            header: [("k".to_string(), "v".to_string())].into(),
            body: b"hi".to_vec(),
        };
        assert_eq!(render(&m, Output::Text).unwrap(), b"hi\n");
        assert_eq!(
            String::from_utf8(render(&m, Output::Json).unwrap()).unwrap(),
            "{\"header\":{\"k\":\"v\"},\"body\":\"aGk=\"}\n"
        );
        let missing = SubscribeArgs::default();
        assert!(subscribe_request(&missing).is_err());
    }
}
