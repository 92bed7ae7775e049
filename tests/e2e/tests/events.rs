//! `GET /v1/events`: live state changes as server-sent events, resumable with `Last-Event-ID`.

use reef_e2e::{Reef, benchmark, demo_config};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A raw SSE connection: (id, event, data) triples as they arrive.
struct EventStream {
    reader: BufReader<TcpStream>,
}

impl EventStream {
    fn open(reef: &Reef, query: &str, last_event_id: Option<u64>) -> Self {
        let addr = reef.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let resume = last_event_id
            .map(|id| format!("Last-Event-ID: {id}\r\n"))
            .unwrap_or_default();
        write!(stream, "GET /v1/events{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{resume}\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header == "\r\n" {
                break;
            }
        }
        Self { reader }
    }

    /// The next event (chunked transfer framing lines are skipped).
    fn next(&mut self) -> (u64, String, Value) {
        let (mut id, mut event, mut data) = (None, None, None);
        loop {
            let mut line = String::new();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "stream ended"
            );
            let line = line.trim_end();
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = serde_json::from_str(v).ok();
            } else if line.is_empty()
                && let (Some(id), Some(event), Some(data)) = (id, event.clone(), data.clone())
            {
                return (id, event, data);
            }
        }
    }
}

#[test]
fn state_changes_stream_live_and_resume_from_last_event_id() {
    let reef = Reef::start(&demo_config(""));
    let mut live = EventStream::open(&reef, "", None);
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    let mut seen = Vec::new();
    while seen
        .last()
        .map(|(_, e, _): &(u64, String, Value)| e.as_str())
        != Some("succeed")
    {
        let (seq, event, data) = live.next();
        assert_eq!(data["job_id"], id.as_str());
        assert_eq!(data["seq"], seq);
        seen.push((seq, event, data));
    }
    let names: Vec<&str> = seen.iter().map(|(_, e, _)| e.as_str()).collect();
    assert_eq!(names, ["submit", "start", "succeed"]);
    assert!(seen.windows(2).all(|w| w[1].0 > w[0].0), "ids increase");

    // A client that saw only the first event resumes right after it.
    let mut resumed = EventStream::open(&reef, &format!("?job={id}"), Some(seen[0].0));
    assert_eq!(resumed.next().0, seen[1].0);
    assert_eq!(resumed.next().0, seen[2].0);
    // And keeps receiving live events of that job only.
    let other = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_done(&other, Duration::from_secs(30));
    assert_eq!(
        reef.post(&format!("/v1/jobs/{id}/retry"), &json!({}))
            .status,
        409,
        "succeeded is final"
    );
    let mut all = EventStream::open(&reef, "?after=0", None);
    let first = all.next();
    assert_eq!(
        (first.0, first.1.as_str()),
        (seen[0].0, "submit"),
        "?after=0 replays the whole history"
    );
}
