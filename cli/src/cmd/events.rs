//! `micro events`: publish to, consume from and read the durable per-topic event logs of the
//! Events service; list topics and set their retention. (Micro v3 had no events CLI; the
//! names follow its `Stream`/`Store` methods.)
//!
//! `consume` and `read` print one JSON event per line in Micro's JSON (payload base64,
//! 64-bit numbers as strings). `consume` acknowledges each event on its stream after printing
//! it, so what reaches stdout is delivered at least once; it ends by asking the server to
//! close, which commits those acknowledgements and hands back what was sent but not printed,
//! so a later consumer of the group resumes right after the last printed event.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use micro_proto::events::start_position::Position;
use micro_proto::events::store_client::StoreClient;
use micro_proto::events::stream_client::StreamClient;
use micro_proto::events::{
    AckRequest, ConsumeRequest, Event, PublishRequest, ReadRequest, Retention, SetRetentionRequest,
    StartPosition, TopicInfo, TopicsRequest,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::root::{unknown_subcommand, Globals};
use crate::client::RpcError;
use crate::output;
use crate::table::Table;

/// How long opening a consumer's stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the server may take to commit a closing consumer's acknowledgements.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(15);

/// `micro events COMMAND`.
#[derive(Debug, Clone, Args)]
pub struct EventsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EventsCommand,
}

/// Subcommands of `micro events`.
#[derive(Debug, Clone, Subcommand)]
pub enum EventsCommand {
    /// Publish an event to a topic
    Publish(PublishArgs),
    /// Consume a topic's events, printing one JSON event per line
    Consume(ConsumeArgs),
    /// Read a topic's stored events, printing one JSON event per line
    Read(ReadArgs),
    /// List topics with their retained events and retention
    Topics,
    /// List the consumer groups of a topic with their positions
    Groups(GroupsArgs),
    /// Change how much of a topic is kept (unset flags keep their current value)
    Retention(RetentionArgs),
    /// Anything else is an error.
    #[command(external_subcommand)]
    Unknown(Vec<String>),
}

/// `micro events publish`.
#[derive(Debug, Clone, Default, Args)]
pub struct PublishArgs {
    /// The topic
    pub topic: Option<String>,
    /// The payload as JSON (validated and sent compact)
    #[arg(short, long, value_name = "JSON", conflicts_with = "payload")]
    pub data: Option<String>,
    /// The payload as text, sent as is
    #[arg(short, long, value_name = "TEXT")]
    pub payload: Option<String>,
    /// Metadata, repeatable: --metadata key=value
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// An id of your choosing; publishing it again to the topic appends nothing
    #[arg(long)]
    pub id: Option<String>,
    /// Unix seconds to stamp the event with [default: when it is appended]
    #[arg(long, value_name = "SECONDS")]
    pub timestamp: Option<i64>,
}

/// `micro events consume`.
#[derive(Debug, Clone, Default, Args)]
pub struct ConsumeArgs {
    /// The topic
    pub topic: Option<String>,
    /// Consumer group: its consumers share the events and it resumes where it left off
    /// [default: a consumer of its own that starts fresh]
    #[arg(short, long)]
    pub group: Option<String>,
    /// Where a new group (or a group-less consumer) starts: earliest, latest, a sequence
    /// number, an RFC 3339 time, or a duration ago such as 10m [default: latest]
    #[arg(short, long, value_name = "POSITION")]
    pub offset: Option<String>,
    /// Let the server acknowledge each event as it sends it
    #[arg(long, conflicts_with = "no_ack")]
    pub auto_ack: bool,
    /// Never acknowledge: events come again after the ack wait (for testing consumers)
    #[arg(long)]
    pub no_ack: bool,
    /// How long an unacknowledged event waits before redelivery, e.g. 30s
    #[arg(long, value_parser = humantime::parse_duration)]
    pub ack_wait: Option<Duration>,
    /// Most redeliveries of one event [default: unlimited]
    #[arg(long, value_name = "N")]
    pub retry_limit: Option<u32>,
    /// Exit after this many events
    #[arg(short = 'n', long, value_name = "N")]
    pub count: Option<u64>,
    /// Most events held unacknowledged at once [default: 100, or --count if smaller]
    #[arg(long, value_name = "N")]
    pub max_in_flight: Option<u32>,
}

/// `micro events read`.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadArgs {
    /// The topic
    pub topic: Option<String>,
    /// At most this many events [default: 250, at most 1000]
    #[arg(short, long, value_name = "N")]
    pub limit: Option<u64>,
    /// Skip this many of the oldest events first
    #[arg(short, long, value_name = "N")]
    pub offset: Option<u64>,
}

/// `micro events groups`.
#[derive(Debug, Clone, Default, Args)]
pub struct GroupsArgs {
    /// The topic
    pub topic: Option<String>,
}

/// `micro events retention`.
#[derive(Debug, Clone, Default, Args)]
pub struct RetentionArgs {
    /// The topic
    pub topic: Option<String>,
    /// Remove events older than this, e.g. 24h (0 = no age limit)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_age: Option<Duration>,
    /// Remove the oldest events while the topic holds more bytes than this (0 = no limit)
    #[arg(long, value_name = "BYTES")]
    pub max_bytes: Option<u64>,
    /// Remove the oldest events while the topic holds more than this many (0 = no limit)
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
}

/// Runs one `micro events …` command.
pub async fn run(args: EventsArgs, globals: &Globals) -> Result<()> {
    match args.command {
        EventsCommand::Publish(a) => publish(a, globals).await,
        EventsCommand::Consume(a) => consume(a, globals).await,
        EventsCommand::Read(a) => read(a, globals).await,
        EventsCommand::Topics => topics(globals).await,
        EventsCommand::Groups(a) => groups(a, globals).await,
        EventsCommand::Retention(a) => retention(a, globals).await,
        EventsCommand::Unknown(words) => bail!(unknown_subcommand("events", &words)),
    }
}

fn required_topic(topic: &Option<String>, usage: &str) -> Result<String> {
    match topic.as_deref() {
        Some(t) if !t.is_empty() => Ok(t.to_owned()),
        _ => bail!("Required usage: micro events {usage}"),
    }
}

/// Builds the Publish request, refusing missing or malformed arguments.
pub fn publish_request(args: &PublishArgs) -> Result<PublishRequest> {
    let topic = required_topic(&args.topic, "publish TOPIC [--data JSON | --payload TEXT]")?;
    let payload = match (&args.data, &args.payload) {
        (Some(json), _) => {
            let value: serde_json::Value =
                serde_json::from_str(json).context("--data is not valid JSON")?;
            serde_json::to_vec(&value).context("encoding --data")?
        }
        (None, Some(text)) => text.clone().into_bytes(),
        (None, None) => Vec::new(),
    };
    let mut metadata = HashMap::new();
    for pair in &args.metadata {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--metadata takes key=value, got {pair:?}");
        };
        if k.is_empty() {
            bail!("--metadata takes key=value, got {pair:?}");
        }
        metadata.insert(k.to_owned(), v.to_owned());
    }
    if args.timestamp.is_some_and(|t| t < 0) {
        bail!("--timestamp must not be negative");
    }
    Ok(PublishRequest {
        topic,
        metadata,
        payload,
        timestamp: args.timestamp.unwrap_or(0),
        id: args.id.clone().unwrap_or_default(),
    })
}

async fn publish(args: PublishArgs, globals: &Globals) -> Result<()> {
    let request = publish_request(&args)?;
    let client = globals.client().await?;
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { StreamClient::new(ch).publish(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

/// Parses `--offset`: earliest, latest, a sequence, an RFC 3339 time or a duration ago.
pub fn start_position(text: &str, now: SystemTime) -> Result<Position> {
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "earliest" | "first" | "oldest" => return Ok(Position::Earliest(true)),
        "latest" | "new" | "newest" => return Ok(Position::Latest(true)),
        _ => {}
    }
    if let Ok(seq) = t.parse::<u64>() {
        return Ok(Position::Sequence(seq));
    }
    let at = match humantime::parse_rfc3339_weak(t) {
        Ok(at) => at,
        Err(_) => {
            let ago = humantime::parse_duration(t).with_context(|| {
                format!(
                    "--offset {t:?} is not earliest, latest, a sequence number, an RFC 3339 \
                     time or a duration"
                )
            })?;
            now.checked_sub(ago).unwrap_or(UNIX_EPOCH)
        }
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Ok(Position::Time(ms))
}

/// Builds the Consume request, refusing missing or malformed arguments.
pub fn consume_request(args: &ConsumeArgs, now: SystemTime) -> Result<ConsumeRequest> {
    let topic = required_topic(&args.topic, "consume TOPIC [--group GROUP]")?;
    let start = args
        .offset
        .as_deref()
        .map(|o| start_position(o, now))
        .transpose()?
        .map(|p| StartPosition { position: Some(p) });
    let ack_wait = match args.ack_wait {
        Some(d) if d.is_zero() => bail!("--ack-wait must be positive"),
        Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        None => 0,
    };
    if args.count == Some(0) || args.max_in_flight == Some(0) {
        bail!("--count and --max-in-flight must be positive");
    }
    let from_count = args.count.map(|c| u32::try_from(c).unwrap_or(u32::MAX));
    let max_in_flight = match (args.max_in_flight, from_count) {
        (Some(m), _) => m,
        (None, Some(c)) => c.min(100),
        (None, None) => 0,
    };
    Ok(ConsumeRequest {
        group: args.group.clone().unwrap_or_default(),
        topic,
        offset: 0,
        auto_ack: args.auto_ack,
        ack_wait,
        retry_limit: args.retry_limit.map_or(0, i64::from),
        ack: None,
        start,
        max_in_flight,
        close: false,
    })
}

async fn consume(args: ConsumeArgs, globals: &Globals) -> Result<()> {
    let request = consume_request(&args, SystemTime::now())?;
    let client = globals.client().await?;
    let channel = client.channel().await?;
    let (outbound, outbound_rx) = mpsc::channel::<ConsumeRequest>(1024);
    let messages = tokio_stream::iter([request]).chain(ReceiverStream::new(outbound_rx));
    let mut stream_client = StreamClient::new(channel);
    let opening = stream_client.consume(client.request(messages));
    let mut inbound = tokio::time::timeout(OPEN_TIMEOUT, opening)
        .await
        .map_err(|_| RpcError::Timeout)?
        .map_err(|s| RpcError::from_status(&s))?
        .into_inner();
    let manual = !args.auto_ack && !args.no_ack;
    let mut printed = 0u64;
    while let Some(event) = inbound
        .message()
        .await
        .map_err(|s| RpcError::from_status(&s))?
    {
        if !print_event(&event)? {
            // Whoever reads our output is gone.
            break;
        }
        if manual {
            let ack = ConsumeRequest {
                ack: Some(AckRequest {
                    id: event.id,
                    success: true,
                    sequence: event.sequence,
                    ..Default::default()
                }),
                ..Default::default()
            };
            if outbound.send(ack).await.is_err() {
                break;
            }
        }
        printed += 1;
        if args.count.is_some_and(|c| printed >= c) {
            break;
        }
    }
    // Close cleanly: the server commits the acknowledgements sent so far, hands back what was
    // sent but not printed, and ends the stream.
    let close = ConsumeRequest {
        close: true,
        ..Default::default()
    };
    if outbound.send(close).await.is_ok() {
        let drained = tokio::time::timeout(CLOSE_TIMEOUT, async {
            while let Ok(Some(_)) = inbound.message().await {}
        });
        if drained.await.is_err() {
            bail!("the server did not confirm the acknowledgements in time");
        }
    }
    Ok(())
}

/// Writes one event as a JSON line; `false` when stdout is closed.
fn print_event(event: &Event) -> Result<bool> {
    let mut line = serde_json::to_vec(event).context("encoding an event as JSON")?;
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    Ok(out.write_all(&line).and_then(|()| out.flush()).is_ok())
}

async fn read(args: ReadArgs, globals: &Globals) -> Result<()> {
    let topic = required_topic(&args.topic, "read TOPIC [--limit N] [--offset N]")?;
    let request = ReadRequest {
        topic,
        limit: args.limit.unwrap_or(0),
        offset: args.offset.unwrap_or(0),
    };
    let client = globals.client().await?;
    let events = client
        .call(|ch| {
            let req = client.request(request.clone());
            async move { Ok(StoreClient::new(ch).read(req).await?.into_inner().events) }
        })
        .await?;
    let mut text = Vec::new();
    for e in &events {
        serde_json::to_writer(&mut text, e).context("encoding an event as JSON")?;
        text.push(b'\n');
    }
    output::print(text);
    Ok(())
}

/// Every topic, as Store.Topics answers.
async fn all_topics(client: &crate::client::Client) -> Result<Vec<TopicInfo>> {
    Ok(client
        .call(|ch| {
            let req = client.request(TopicsRequest {});
            async move { Ok(StoreClient::new(ch).topics(req).await?.into_inner().topics) }
        })
        .await?)
}

async fn groups(args: GroupsArgs, globals: &Globals) -> Result<()> {
    let topic = required_topic(&args.topic, "groups TOPIC")?;
    let client = globals.client().await?;
    let Some(info) = all_topics(&client)
        .await?
        .into_iter()
        .find(|t| t.topic == topic)
    else {
        return Err(RpcError::NotFound.into());
    };
    let mut table = Table::with_header(&["GROUP", "CURSOR", "PENDING", "DROPPED"]);
    for g in info.groups {
        table.row(vec![
            g.group,
            g.cursor.to_string(),
            g.pending.to_string(),
            g.dropped.to_string(),
        ]);
    }
    output::print(table.render());
    Ok(())
}

async fn topics(globals: &Globals) -> Result<()> {
    let client = globals.client().await?;
    let topics = all_topics(&client).await?;
    let mut table = Table::with_header(&[
        "TOPIC",
        "EVENTS",
        "FIRST",
        "NEXT",
        "BYTES",
        "MAX-AGE",
        "MAX-BYTES",
        "MAX-EVENTS",
    ]);
    let limit = |n: u64| {
        if n == 0 {
            "-".to_owned()
        } else {
            n.to_string()
        }
    };
    for t in topics {
        let r = t.retention.unwrap_or_default();
        let age = match r.max_age {
            0 => "-".to_owned(),
            s => humantime::format_duration(Duration::from_secs(s)).to_string(),
        };
        table.row(vec![
            t.topic,
            t.count.to_string(),
            t.first_sequence.to_string(),
            t.next_sequence.to_string(),
            t.bytes.to_string(),
            age,
            limit(r.max_bytes),
            limit(r.max_events),
        ]);
    }
    output::print(table.render());
    Ok(())
}

async fn retention(args: RetentionArgs, globals: &Globals) -> Result<()> {
    let topic = required_topic(
        &args.topic,
        "retention TOPIC [--max-age D] [--max-bytes N] [--max-events N]",
    )?;
    let client = globals.client().await?;
    let current = all_topics(&client)
        .await?
        .into_iter()
        .find(|t| t.topic == topic)
        .and_then(|t| t.retention)
        .unwrap_or(Retention {
            max_age: 24 * 60 * 60,
            max_bytes: 64 * 1024 * 1024,
            max_events: 0,
        });
    let retention = Retention {
        max_age: args.max_age.map_or(current.max_age, |d| {
            d.as_secs() + u64::from(d.subsec_nanos() > 0)
        }),
        max_bytes: args.max_bytes.unwrap_or(current.max_bytes),
        max_events: args.max_events.unwrap_or(current.max_events),
    };
    let request = SetRetentionRequest {
        topic,
        retention: Some(retention),
    };
    client
        .mutate(|ch| {
            let req = client.request(request.clone());
            async move { StoreClient::new(ch).set_retention(req).await.map(drop) }
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Harness {
        #[command(subcommand)]
        command: EventsCommand,
    }

    fn parse(args: &[&str]) -> EventsCommand {
        Harness::try_parse_from(std::iter::once("events").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn publish_builds_payload_and_metadata() {
        let EventsCommand::Publish(a) = parse(&[
            "publish",
            "orders",
            "--data",
            r#"{ "id": 1 }"#,
            "-m",
            "k=v=w",
            "--id",
            "x1",
        ]) else {
            panic!()
        };
        let r = publish_request(&a).unwrap();
        assert_eq!(r.topic, "orders");
        assert_eq!(r.payload, br#"{"id":1}"#);
        assert_eq!(r.metadata.get("k").map(String::as_str), Some("v=w"));
        assert_eq!(r.id, "x1");
        let EventsCommand::Publish(a) = parse(&["publish", "t", "--payload", "not json"]) else {
            panic!()
        };
        assert_eq!(publish_request(&a).unwrap().payload, b"not json");
    }

    #[test]
    fn publish_refuses_bad_input() {
        for args in [
            &["publish"][..],
            &["publish", "t", "--data", "{oops"][..],
            &["publish", "t", "-m", "novalue"][..],
            &["publish", "t", "-m", "=v"][..],
            &["publish", "t", "--timestamp=-5"][..],
        ] {
            let EventsCommand::Publish(a) = parse(args) else {
                panic!()
            };
            assert!(publish_request(&a).is_err(), "{args:?}");
        }
        assert!(Harness::try_parse_from(["events", "publish", "t", "-d", "1", "-p", "x"]).is_err());
    }

    #[test]
    fn offsets_parse_to_start_positions() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(
            start_position("earliest", now).unwrap(),
            Position::Earliest(true)
        );
        assert_eq!(
            start_position("Latest", now).unwrap(),
            Position::Latest(true)
        );
        assert_eq!(start_position("42", now).unwrap(), Position::Sequence(42));
        assert_eq!(start_position("10s", now).unwrap(), Position::Time(990_000));
        assert_eq!(
            start_position("1970-01-01T00:00:02Z", now).unwrap(),
            Position::Time(2_000)
        );
        assert!(start_position("sometime", now).is_err());
    }

    #[test]
    fn consume_options_and_their_defaults() {
        let now = SystemTime::now();
        let EventsCommand::Consume(a) = parse(&["consume", "t"]) else {
            panic!()
        };
        let r = consume_request(&a, now).unwrap();
        assert_eq!((r.group.as_str(), r.max_in_flight, r.ack_wait), ("", 0, 0));
        assert!(r.start.is_none());
        let EventsCommand::Consume(a) = parse(&[
            "consume",
            "t",
            "-g",
            "workers",
            "-o",
            "7",
            "--ack-wait",
            "2s",
            "--retry-limit",
            "3",
            "-n",
            "5",
        ]) else {
            panic!()
        };
        let r = consume_request(&a, now).unwrap();
        assert_eq!(r.group, "workers");
        assert_eq!(r.ack_wait, 2_000_000_000);
        assert_eq!(r.retry_limit, 3);
        assert_eq!(r.max_in_flight, 5);
        assert_eq!(r.start.unwrap().position, Some(Position::Sequence(7)));
        for bad in [
            &["consume"][..],
            &["consume", "t", "-n", "0"][..],
            &["consume", "t", "--ack-wait", "0s"][..],
            &["consume", "t", "-o", "whenever"][..],
        ] {
            let EventsCommand::Consume(a) = parse(bad) else {
                panic!()
            };
            assert!(consume_request(&a, now).is_err(), "{bad:?}");
        }
        assert!(
            Harness::try_parse_from(["events", "consume", "t", "--auto-ack", "--no-ack"]).is_err()
        );
    }
}
