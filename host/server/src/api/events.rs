//! `GET /v1/events`: state changes as server-sent events, resumable with `Last-Event-ID`.
//!
//! Each event is one stored [`JobEvent`]: `id` is its sequence number, `event` its transition,
//! `data` the JSON record. A client that reconnects with `Last-Event-ID` (or `?after=`) first gets
//! every stored event after that id, then live ones; a client that falls behind the live buffer
//! catches up from the store, so no event is skipped.

use super::AppState;
use super::extract::Query;
use super::problem::Problem;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use reef_core::lifecycle::JobEvent;
use reef_store::JobStore;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

/// Stored events read per catch-up query.
const CATCH_UP_BATCH: usize = 1000;

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only events of this job.
    job: Option<String>,
    /// Replay stored events after this sequence number (like `Last-Event-ID`).
    after: Option<u64>,
}

struct Feed {
    store: JobStore,
    live: tokio::sync::broadcast::Receiver<JobEvent>,
    backlog: VecDeque<JobEvent>,
    /// Sequence number of the last event delivered (or skipped by the filter).
    last: u64,
    /// The store may hold more events after `last` than the backlog had room for.
    catching_up: bool,
    job: Option<String>,
}

impl Feed {
    async fn next(&mut self) -> Option<JobEvent> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.last = event.seq;
                return Some(event);
            }
            if self.catching_up {
                let store = self.store.clone();
                let after = self.last;
                let batch =
                    tokio::task::spawn_blocking(move || store.events_after(after, CATCH_UP_BATCH))
                        .await
                        .ok()?
                        .ok()?;
                self.catching_up = batch.len() == CATCH_UP_BATCH;
                self.backlog.extend(batch);
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.seq <= self.last => continue, // already sent from the store
                Ok(event) => {
                    self.last = event.seq;
                    return Some(event);
                }
                Err(RecvError::Lagged(_)) => self.catching_up = true,
                Err(RecvError::Closed) => return None,
            }
        }
    }

    async fn next_matching(&mut self) -> Option<JobEvent> {
        loop {
            let event = self.next().await?;
            if self.job.as_ref().is_none_or(|j| event.job_id == j.as_str()) {
                return Some(event);
            }
        }
    }
}

/// The `Last-Event-ID` header of a reconnecting event-stream client.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only its documentation is used; the handler reads the header map
pub struct LastEventId {
    /// Resume after this sequence number (takes precedence over `after`).
    #[param(rename = "Last-Event-ID")]
    last_event_id: Option<u64>,
}

/// `GET /v1/events`
#[utoipa::path(
    get,
    path = "/v1/events",
    operation_id = "event_stream",
    tag = "jobs",
    params(EventParams, LastEventId),
    responses(
        (status = 200, description = "Server-sent events, one per state change: `id` is the sequence number, `event` the transition, `data` a `JobEvent` as JSON. The stream stays open; comments keep it alive.",
            body = String, content_type = "text/event-stream"),
        (status = 400, description = "A query parameter or `Last-Event-ID` that is not an event id.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<EventParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Problem> {
    let last_event_id = headers
        .get("last-event-id")
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid-header",
                        "Last-Event-ID must be the id of an event: a whole number from 0",
                    )
                })
        })
        .transpose()?;
    let resume = last_event_id.or(params.after);
    let store = state.jobs.store().clone();
    // Subscribe before reading the store, so nothing committed in between is missed.
    let live = store.subscribe();
    let feed = Feed {
        store,
        live,
        backlog: VecDeque::new(),
        last: resume.unwrap_or(0),
        catching_up: resume.is_some(),
        job: params.job,
    };
    let events = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next_matching().await?;
        let sse = Event::default()
            .id(event.seq.to_string())
            .event(event.transition.clone())
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().comment("unencodable event"));
        Some((Ok(sse), feed))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
