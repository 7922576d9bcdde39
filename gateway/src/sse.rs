//! Streaming answers as server-sent events: each JSON message is one `data:` event; an error
//! inside the stream is sent as an `event: error` whose data is Micro's error JSON, and ends
//! the stream. Comment lines keep idle connections open through proxies.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::{GatewayError, JsonStream};

/// How often an idle stream sends a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Renders `stream` as server-sent events; errors carry `service` as their `Id`, as unary
/// errors of the backend do.
pub(crate) fn response(stream: JsonStream, service: &str) -> Response {
    let service = service.to_owned();
    let mut ended = false;
    let events = stream
        .take_while(move |item| {
            // Pass the first error on, then stop.
            let go = !ended;
            ended |= item.is_err();
            std::future::ready(go)
        })
        .map(move |item| Ok::<_, Infallible>(event(item, &service)));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// One event: the message as compact JSON, or the error's body as an `error` event.
fn event(item: Result<serde_json::Value, GatewayError>, service: &str) -> Event {
    let (name, data) = match item {
        Ok(value) => (None, serde_json::to_string(&value)),
        Err(error) => (
            Some("error"),
            serde_json::to_string(&error.body_with_id(service)),
        ),
    };
    let data = data.unwrap_or_else(|e| {
        serde_json::json!({"Id": service, "Code": 500, "Detail": e.to_string(), "Status": "Internal Server Error"})
            .to_string()
    });
    // Fields go out in the order they are set: the event name first, as is customary.
    let event = match name {
        Some(name) => Event::default().event(name),
        None => Event::default(),
    };
    event.data(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn messages_are_data_events_and_an_error_ends_the_stream() {
        let items = vec![
            Ok(serde_json::json!({"a": 1})),
            Err(GatewayError::Unavailable("going away".into())),
            Ok(serde_json::json!({"never": true})),
        ];
        let response = response(futures::stream::iter(items).boxed(), "broker");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{:?}",
            response.headers()
        );
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(
            text,
            "data: {\"a\":1}\n\nevent: error\ndata: {\"Id\":\"broker\",\"Code\":503,\"Detail\":\"going away\",\"Status\":\"Service Unavailable\"}\n\n"
        );
    }
}
