//! [`Publish`]: how event publishes batch. Concurrent publishes on one node are coalesced into
//! one `Publish` command (see [`crate::batcher`]), so many events share one raft entry; each
//! publisher is answered with its own sequence, or why its event was refused.

use micro_state_machine::events::{event_size, Appended, EventsCommand, EventsResponse, NewEvent};
use micro_state_machine::{Command, Response};

use super::convert::events_error;
use crate::batcher::{Batch, Batcher};
use crate::error::ApiError;

/// Event publishes, batched.
pub struct Publish;

/// The node's publish batcher.
pub type Publisher = Batcher<Publish>;

impl Batch for Publish {
    type Item = NewEvent;
    type Outcome = Appended;
    const SIZE_METRIC: &'static str = "micro_events_publish_batch_events";

    fn size(event: &NewEvent) -> usize {
        event_size(&event.payload, &event.metadata)
    }

    fn command(events: Vec<NewEvent>) -> Command {
        Command::Events(EventsCommand::Publish { events })
    }

    fn outcomes(response: Response) -> Result<Vec<Result<Appended, ApiError>>, ApiError> {
        match response {
            Response::Events(EventsResponse::Published { results }) => Ok(results
                .into_iter()
                .map(|r| r.map_err(events_error))
                .collect()),
            other => Err(ApiError::Internal(format!(
                "a publish batch produced {other:?}"
            ))),
        }
    }
}
