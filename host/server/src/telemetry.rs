//! The host's own logs and traces.
//!
//! [`Telemetry::init`] installs the `tracing` subscriber of `reef serve`: text or JSON lines on
//! stderr, filtered by a level that a config reload can change, and, when
//! `telemetry.otlp_endpoint` is set, an OpenTelemetry layer and a [`JobTracer`] exporting spans
//! over OTLP/HTTP from the SDK's own export thread.

pub use reef_engine::trace::{JobTracer, PolicyCall};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use reef_core::config::{LogFormat, TelemetryConfig};
use std::io::IsTerminal;
use std::time::Duration;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// Environment variable that overrides `telemetry.log_level`.
pub const LOG_ENV: &str = "REEF_LOG";
/// Environment variable that overrides `telemetry.log_format`.
pub const LOG_FORMAT_ENV: &str = "REEF_LOG_FORMAT";

/// Why telemetry could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A log filter does not parse.
    #[error("telemetry.log_level: {0}")]
    Level(String),
    /// The OTLP exporter could not be built.
    #[error("telemetry.otlp_endpoint: {0}")]
    Exporter(String),
    /// A global subscriber is already installed.
    #[error("logging is already set up: {0}")]
    AlreadySet(String),
}

/// Spans held for export before new ones are dropped (a few MiB at most).
const MAX_QUEUED_SPANS: usize = 32_768;
/// Spans per export request.
const EXPORT_BATCH: usize = 2_048;
/// How often queued spans are sent.
const EXPORT_EVERY: Duration = Duration::from_secs(1);

type Filtered = Layered<reload::Layer<EnvFilter, Registry>, Registry>;

/// The installed subscriber's handles: the live log level and the span exporter.
pub struct Telemetry {
    level: reload::Handle<EnvFilter, Registry>,
    level_from_env: bool,
    provider: Option<SdkTracerProvider>,
    jobs: JobTracer,
}

impl Telemetry {
    /// Installs the global subscriber for `config` (with `REEF_LOG` and `REEF_LOG_FORMAT`
    /// taking precedence).
    pub fn init(config: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let from_env = std::env::var(LOG_ENV).ok();
        let level_from_env = from_env.is_some();
        let filter = parse_level(from_env.as_deref().unwrap_or(&config.log_level))?;
        let (filter, level) = reload::Layer::new(filter);
        let format = match std::env::var(LOG_FORMAT_ENV).as_deref() {
            Ok("json") => LogFormat::Json,
            Ok("text") => LogFormat::Text,
            _ => config.log_format,
        };
        let mut layers: Vec<Box<dyn Layer<Filtered> + Send + Sync>> = Vec::new();
        let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        layers.push(match format {
            LogFormat::Json => lines.json().boxed(),
            LogFormat::Text => lines.with_ansi(std::io::stderr().is_terminal()).boxed(),
        });
        let provider = match &config.otlp_endpoint {
            Some(endpoint) => Some(provider(endpoint, &config.service_name)?),
            None => None,
        };
        let jobs = match &provider {
            Some(provider) => {
                let tracer = provider.tracer("reef");
                layers.push(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer.clone())
                        .boxed(),
                );
                JobTracer::new(tracer)
            }
            None => JobTracer::disabled(),
        };
        tracing_subscriber::registry()
            .with(filter)
            .with(layers)
            .try_init()
            .map_err(|e| TelemetryError::AlreadySet(e.to_string()))?;
        Ok(Self {
            level,
            level_from_env,
            provider,
            jobs,
        })
    }

    /// The job tracer (disabled without an OTLP endpoint).
    pub fn jobs(&self) -> JobTracer {
        self.jobs.clone()
    }

    /// A handle that changes the log level of the running host.
    pub fn level(&self) -> LogLevel {
        LogLevel {
            handle: Some(self.level.clone()),
            from_env: self.level_from_env,
        }
    }

    /// Sends the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("reef: flushing spans at exit: {error}");
        }
    }
}

/// The running host's log level, changed by a config reload.
#[derive(Clone, Default)]
pub struct LogLevel {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    from_env: bool,
}

impl LogLevel {
    /// A level tied to no subscriber (tests, tools): setting it changes nothing.
    pub fn detached() -> Self {
        Self {
            handle: None,
            from_env: false,
        }
    }

    /// Checks a filter without applying it.
    pub fn validate(directive: &str) -> Result<(), TelemetryError> {
        parse_level(directive).map(|_| ())
    }

    /// Applies `directive`; `false` when `REEF_LOG` pins the level (the environment wins, as at
    /// start) or no subscriber of ours is installed.
    pub fn set(&self, directive: &str) -> Result<bool, TelemetryError> {
        let Some(handle) = &self.handle else {
            return Ok(false);
        };
        if self.from_env {
            return Ok(false);
        }
        let filter = parse_level(directive)?;
        handle
            .reload(filter)
            .map_err(|e| TelemetryError::Level(e.to_string()))?;
        Ok(true)
    }
}

fn parse_level(directive: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::builder()
        .parse(directive)
        .map_err(|e| TelemetryError::Level(format!("`{directive}`: {e}")))
}

/// The URL spans are posted to: `<endpoint>/v1/traces`, unless the endpoint already names it.
pub fn traces_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim_end_matches('/');
    if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1/traces")
    }
}

fn provider(endpoint: &str, service: &str) -> Result<SdkTracerProvider, TelemetryError> {
    reef_core::config::validate_endpoint(endpoint).map_err(TelemetryError::Exporter)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    // A job writes about eight spans; the SDK's defaults (2048 queued, sent every 5 s) drop
    // spans at a few hundred jobs a second. `OTEL_BSP_*` variables still take precedence.
    let mut batch = BatchConfigBuilder::default();
    if std::env::var_os("OTEL_BSP_MAX_QUEUE_SIZE").is_none() {
        batch = batch.with_max_queue_size(MAX_QUEUED_SPANS);
    }
    if std::env::var_os("OTEL_BSP_MAX_EXPORT_BATCH_SIZE").is_none() {
        batch = batch.with_max_export_batch_size(EXPORT_BATCH);
    }
    if std::env::var_os("OTEL_BSP_SCHEDULE_DELAY").is_none() {
        batch = batch.with_scheduled_delay(EXPORT_EVERY);
    }
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch.build())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_id_generator(reef_engine::trace::ids::JobIds::default())
        .with_resource(resource)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_url_appends_the_signal_path_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces/"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn endpoints_must_be_plain_http() {
        use reef_core::config::validate_endpoint;
        assert!(validate_endpoint("http://collector:4318").is_ok());
        assert!(validate_endpoint("https://collector:4318").is_err());
        assert!(validate_endpoint("collector:4318").is_err());
    }

    #[test]
    fn bad_levels_are_named() {
        let err = LogLevel::validate("reef=loud").unwrap_err();
        assert!(err.to_string().contains("reef=loud"), "{err}");
        assert!(LogLevel::validate("info,reef=debug").is_ok());
    }
}
