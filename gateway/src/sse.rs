//! Streaming calls as server-sent events: a request that accepts `text/event-stream` gets each
//! message of the backend's stream as one `data:` event (compact JSON). A failure after the
//! stream started arrives as an `error` event carrying Micro's error body, and ends the stream.
//! Comment lines keep idle connections open through proxies.

use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::{GatewayError, JsonStream};

/// Whether the client asked for server-sent events.
pub(crate) fn wanted(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// Renders `stream` as server-sent events; error bodies carry `service` as their `Id`.
pub(crate) fn respond(stream: JsonStream, service: String) -> Response {
    let events = futures::stream::unfold(Some(stream), move |state| {
        let service = service.clone();
        async move {
            let mut stream = state?;
            let event = match stream.next().await? {
                Ok(value) => Event::default().data(value.to_string()),
                Err(e) => return Some((Ok(error_event(&e, &service)), None)),
            };
            Some((Ok::<_, std::convert::Infallible>(event), Some(stream)))
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn error_event(e: &GatewayError, service: &str) -> Event {
    let body = serde_json::to_string(&e.body_with_id(service)).unwrap_or_default();
    Event::default().event("error").data(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn recognises_event_stream_among_accepted_types() {
        let mut h = HeaderMap::new();
        assert!(!wanted(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wanted(&h));
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, Text/Event-Stream;q=0.9"),
        );
        assert!(wanted(&h));
    }
}
