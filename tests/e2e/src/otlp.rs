//! An OTLP/HTTP trace collector on loopback: it decodes the protobuf exports reef sends and keeps
//! the spans, for the tracing tests and the throughput benchmark's tracing run.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// Spans received, with the `service.name` of their resource.
pub type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// A running collector; it serves until the process ends.
pub struct Collector {
    /// Base URL (`http://127.0.0.1:PORT`), the value of `telemetry.otlp_endpoint`.
    pub url: String,
    /// Every span received so far.
    pub spans: Received,
}

impl Collector {
    /// Listens on a free loopback port, one thread per connection.
    pub fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the collector");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("collector address")
        );
        let spans: Received = Arc::default();
        let received = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let received = received.clone();
                std::thread::spawn(move || serve(stream, &received));
            }
        });
        Collector { url, spans }
    }

    /// How many spans have arrived.
    pub fn count(&self) -> usize {
        self.spans.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// Answers every request on one connection (the exporter keeps it alive): 200 for a trace
/// export it could decode, 400 for anything else.
fn serve(stream: TcpStream, spans: &Received) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = match ExportTraceServiceRequest::decode(body.as_slice()) {
            Ok(export) if request_line.starts_with("POST /v1/traces ") => {
                keep(export, spans);
                "200 OK"
            }
            _ => "400 Bad Request",
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
        );
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn keep(export: ExportTraceServiceRequest, spans: &Received) {
    let Ok(mut spans) = spans.lock() else { return };
    for resource in export.resource_spans {
        let service = resource
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|a| a.key == "service.name")
            .and_then(|a| a.value.as_ref())
            .map(|v| format!("{:?}", v.value))
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push((service.clone(), span));
            }
        }
    }
}
